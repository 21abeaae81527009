"""Stochastic gradients: mini-batches, Gaussian noise, reproducible per-trajectory streams, CLI."""

import json

import numpy as np
import pytest

from optiscope.cli import main
from optiscope.engine import run
from optiscope.errors import OptiscopeError
from optiscope.experiments import run_specs
from optiscope.objectives import get_objective
from optiscope.optimizers import get_optimizer
from optiscope.stochastic import (
    GaussianNoise,
    MiniBatchGradient,
    gradient_source,
    normals,
    permutations,
    random_bits,
    uniforms,
)


def cli(capsys, *argv):
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# ---------------------------------------------------------------- mini-batches
def test_minibatches_of_an_epoch_average_to_the_full_gradient():
    f = get_objective("linreg:features=bmi+bp")  # N = 442 = 13 * 34
    x = np.array([[1.0, -2.0, 3.0], [40.0, 7.0, 100.0], [0.0, 0.0, 0.0]])
    source = MiniBatchGradient(f, 34, seed=5)
    assert source.per_epoch == 13
    grads = [source(x, k) for k in range(1, 14)]
    np.testing.assert_allclose(np.mean(grads, axis=0), f.grad(x), rtol=1e-11, atol=1e-9)
    seen = np.concatenate([source.indices(k, 3) for k in range(1, 14)], axis=1)  # [3, 442]
    assert all(sorted(row) == list(range(442)) for row in seen.tolist())  # no replacement
    assert not np.allclose(grads[0], f.grad(x))  # a single batch is not the full gradient


def test_uneven_last_batch_and_weighted_epoch_average():
    f = get_objective("logreg:features=mean_radius+mean_texture")  # N = 569, prime
    x = np.array([[0.5, -1.0, 0.2], [-3.0, 0.0, 1.0]])
    source = MiniBatchGradient(f, 100, seed=0)
    assert source.per_epoch == 6
    sizes = [source.indices(k, 2).shape[1] for k in range(1, 7)]
    assert sizes == [100, 100, 100, 100, 100, 69]  # drop_last=False: the remainder comes last
    weighted = sum(n * source(x, k) for n, k in zip(sizes, range(1, 7), strict=True)) / 569
    np.testing.assert_allclose(weighted, f.grad(x), rtol=1e-12, atol=1e-15)
    # Step 7 starts epoch 2 with a fresh permutation (per trajectory).
    first, second = source.indices(1, 2), source.indices(7, 2)
    assert second.shape == (2, 100) and not np.array_equal(first, second)
    assert not np.array_equal(first[0], first[1])


def test_permutations_are_permutations_and_differ_by_stream_epoch_and_seed():
    p = permutations(0, np.arange(4), 0, 50)
    assert all(sorted(row) == list(range(50)) for row in p.tolist())
    assert len({tuple(r) for r in p.tolist()}) == 4
    assert not np.array_equal(p, permutations(0, np.arange(4), 1, 50))
    assert not np.array_equal(p, permutations(1, np.arange(4), 0, 50))
    np.testing.assert_array_equal(p, permutations(0, np.arange(4), 0, 50))
    np.testing.assert_array_equal(p[2:3], permutations(0, [2], 0, 50))


def test_full_size_batch_is_gradient_descent_up_to_rounding():
    f = get_objective("linreg")
    optimizer, setting = get_optimizer("sgd:lr=0.3")
    exact = run(f, optimizer, setting, steps=40)
    shuffled = run(f, optimizer, setting, steps=40, gradient=gradient_source(f, 0.0, 442, 7))
    np.testing.assert_allclose(shuffled.positions, exact.positions, rtol=1e-11, atol=1e-9)
    assert gradient_source(f, 0.0, "full", 7) is None  # exact GD: no source at all


# ---------------------------------------------------------------- noise
def test_noise_statistics():
    z = normals(3, np.arange(400), 1, 500)  # 200,000 draws
    n = z.size
    assert abs(z.mean()) < 5 / np.sqrt(n)
    assert abs(z.std() - 1.0) < 5 / np.sqrt(2 * n)
    assert abs(np.mean(z**4) - 3.0) < 0.05  # Gaussian kurtosis
    from scipy import stats

    assert stats.kstest(z.ravel(), "norm").pvalue > 1e-3
    # independent across steps and across coordinates
    z2 = normals(3, np.arange(400), 2, 500)
    assert abs(np.corrcoef(z.ravel(), z2.ravel())[0, 1]) < 5 / np.sqrt(n)
    assert abs(np.corrcoef(z[:, 0], z[:, 1])[0, 1]) < 5 / np.sqrt(400)
    u = uniforms(random_bits(0, 1, np.arange(100), 0, 1000), open_low=True)
    assert u.min() > 0 and u.max() <= 1 and abs(u.mean() - 0.5) < 5 * 0.29 / np.sqrt(u.size)


def test_gaussian_noise_source_adds_sigma_times_normals():
    f = get_objective("aniso")
    sigma = 0.7
    source = gradient_source(f, sigma, None, seed=11, streams=np.arange(2000))
    assert isinstance(source, GaussianNoise)
    x = np.tile([1.0, 1.0], (2000, 1))
    noise = source(x, 3) - f.grad(x)
    assert abs(noise.mean()) < 5 * sigma / np.sqrt(noise.size)
    assert abs(noise.std() - sigma) < 5 * sigma / np.sqrt(2 * noise.size)
    np.testing.assert_array_equal(
        source(x, 3), f.grad(x) + sigma * normals(11, np.arange(2000), 3, 2)
    )


# ---------------------------------------------------------------- reproducibility
CASES = [
    ("aniso", 0.5, None),
    ("linreg", 0.0, 16),
    ("logreg:features=all", 0.0, 1),
    ("logreg", 0.2, 50),
]


@pytest.mark.parametrize(("spec", "noise", "batch"), CASES)
def test_same_seed_same_run_different_seed_different_run(spec, noise, batch):
    f = get_objective(spec)
    optimizer, setting = get_optimizer("momentum:lr=0.05,momentum=0.5")

    def go(seed):
        return run(f, optimizer, setting, steps=30, gradient=gradient_source(f, noise, batch, seed))

    a, b, c = go(1), go(1), go(2)
    np.testing.assert_array_equal(a.positions, b.positions)
    np.testing.assert_array_equal(a.losses, b.losses)
    assert not np.allclose(a.positions[-1], c.positions[-1])


@pytest.mark.parametrize(("spec", "noise", "batch"), CASES)
def test_batched_run_equals_rows_run_alone_bit_for_bit(spec, noise, batch):
    f = get_objective(spec)
    optimizer, setting = get_optimizer("adam")
    settings = [{**setting, "lr": lr} for lr in (0.01, 0.05, 0.1)]
    streams = np.array([4, 9, 2])
    together = run(
        f,
        optimizer,
        settings,
        steps=25,
        gradient=gradient_source(f, noise, batch, 3, streams),
    )
    rows = [row for row in together.positions[-1]]
    assert not np.allclose(rows[0], rows[1])
    for b, (s, stream) in enumerate(zip(settings, streams, strict=True)):
        alone = run(
            f, optimizer, s, steps=25, gradient=gradient_source(f, noise, batch, 3, [stream])
        )
        np.testing.assert_array_equal(alone.positions[:, 0], together.positions[:, b])
        np.testing.assert_array_equal(alone.losses[:, 0], together.losses[:, b])


def test_run_specs_gives_each_spec_its_own_stream():
    f = get_objective("linreg")
    same = ["sgd:lr=0.1", "sgd:lr=0.1", "momentum:lr=0.1"]
    results = run_specs(f, same, steps=20, batch_size=8, seed=4)
    p0, p1 = (r.trajectories.positions[:, r.row] for r in results[:2])
    assert not np.allclose(p0, p1)  # independent streams, same settings
    again = run_specs(f, same, steps=20, batch_size=8, seed=4)
    for r, s in zip(results, again, strict=True):
        np.testing.assert_array_equal(
            r.trajectories.positions[:, r.row], s.trajectories.positions[:, s.row]
        )
    # Spec 2 runs in a group of its own; alone at index 0 it would use stream 0, not 2.
    alone = run_specs(f, ["momentum:lr=0.1"], steps=20, batch_size=8, seed=4)[0]
    assert not np.allclose(
        alone.trajectories.positions[-1, 0], results[2].trajectories.positions[-1, 0]
    )


def test_loss_recorded_is_the_full_objective():
    f = get_objective("linreg:scale=false")
    optimizer, setting = get_optimizer("sgd:lr=0.0005")
    traj = run(f, optimizer, setting, steps=20, gradient=gradient_source(f, 1.0, 1, 0))
    np.testing.assert_allclose(traj.losses[:, 0], f.value(traj.positions[:, 0]), rtol=1e-13)
    np.testing.assert_allclose(
        traj.grad_norms[:, 0], np.linalg.norm(f.grad(traj.positions[:, 0]), axis=1), rtol=1e-13
    )


# ---------------------------------------------------------------- validation
@pytest.mark.parametrize(
    ("spec", "kwargs", "needle"),
    [
        ("linreg", {"batch_size": 0}, "invalid batch size: 0 (valid: a whole number >= 1"),
        ("linreg", {"batch_size": "0"}, "invalid batch size: 0 (valid: a whole number >= 1"),
        ("linreg", {"batch_size": 443}, "invalid batch size: 443 ("),
        ("linreg", {"batch_size": "abc"}, "invalid batch size: 'abc' (valid: a whole number"),
        ("linreg", {"batch_size": "1.5"}, "invalid batch size: '1.5' (valid: a whole number"),
        ("aniso", {"batch_size": 4}, "needs a data objective"),
        ("aniso", {"noise": -1.0}, "invalid noise: -1.0 (valid: a finite number >= 0)"),
        ("aniso", {"noise": float("nan")}, "invalid noise: nan (valid: a finite number >= 0)"),
        ("aniso", {"noise": float("inf")}, "invalid noise: inf (valid: a finite number >= 0)"),
        ("aniso", {"seed": -1}, "invalid seed: -1 (valid: an integer from 0 to 2**64-1)"),
        ("aniso", {"seed": 2**64}, "invalid seed: 18446744073709551616 (valid"),
    ],
)
def test_bad_stochastic_options(spec, kwargs, needle):
    with pytest.raises(OptiscopeError) as info:
        gradient_source(get_objective(spec), **kwargs)
    message = str(info.value)
    assert needle in message
    assert "--" not in message and "\n" not in message  # names the value, not a flag; one line
    if kwargs.get("batch_size") == 443:
        assert "442 examples" in message


def test_line_search_optimizer_refuses_stochastic_gradients():
    f = get_objective("aniso")
    optimizer, setting = get_optimizer("lbfgs")
    with pytest.raises(OptiscopeError, match="noise and mini-batches"):
        run(f, optimizer, setting, steps=5, gradient=gradient_source(f, 0.1))


# ---------------------------------------------------------------- the command line
def test_cli_run_with_batch_size_json(capsys):
    argv = ["run", "linreg", "sgd:lr=0.5", "--batch-size", "32", "--seed", "3", "--json"]
    code, out, err = cli(capsys, *argv, "--steps", "60")
    assert code == 0, err
    data = json.loads(out)
    assert data["batch_size"] == 32 and data["seed"] == 3 and data["noise"] == 0.0
    assert data["function"] == "linreg:data=diabetes,features=bmi,scale=true"
    run_ = data["runs"][0]
    assert run_["metrics"]["distance_final"] < 20 and run_["loss_final"] > data["f_min"]
    code, again, _ = cli(capsys, *argv, "--steps", "60")
    assert json.loads(again)["runs"] == data["runs"]
    code, other, _ = cli(capsys, *argv[:-3], "--seed", "4", "--json", "--steps", "60")
    assert json.loads(other)["runs"][0]["x_final"] != run_["x_final"]


def test_cli_noise_on_a_test_function_and_defaults(capsys):
    code, out, err = cli(capsys, "run", "aniso", "sgd:lr=0.1", "--noise", "0.5", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["noise"] == 0.5 and data["batch_size"] == "full" and data["seed"] == 0
    code, out, _ = cli(capsys, "run", "aniso", "sgd:lr=0.1", "--json")
    exact = json.loads(out)
    assert exact["noise"] == 0.0 and exact["batch_size"] == "full"
    assert exact["runs"][0]["x_final"] != data["runs"][0]["x_final"]
    code, out, _ = cli(capsys, "run", "aniso", "sgd:lr=0.1", "--noise", "0.5")
    assert code == 0 and "Gaussian noise sigma 0.5" in out


def test_cli_compare_stochastic_figures(tmp_path, capsys):
    code, out, err = cli(
        capsys, "compare", "logreg", "sgd:lr=0.5", "adam:lr=0.1",
        "--batch-size", "1", "--noise", "0.1", "--steps", "40", "--out", str(tmp_path / "a"),
    )  # fmt: skip
    assert code == 0, err
    assert (tmp_path / "a" / "compare.png").stat().st_size > 10_000
    assert "SGD, 1 of 569 examples per step" in out
    saved = json.loads((tmp_path / "a" / "runs.json").read_text())
    assert saved["batch_size"] == 1 and saved["noise"] == 0.1
    # Many parameters: a loss-only figure and the table, no crash.
    code, out, err = cli(
        capsys, "compare", "linreg:features=all", "sgd:lr=0.1", "momentum:lr=0.05",
        "--batch-size", "20", "--steps", "30", "--out", str(tmp_path / "b"),
    )  # fmt: skip
    assert code == 0, err
    assert (tmp_path / "b" / "compare.png").stat().st_size > 10_000
    assert "momentum" in (tmp_path / "b" / "table.md").read_text()
    code, out, err = cli(
        capsys, "run", "linreg:features=all", "sgd:lr=0.1", "--plot", str(tmp_path / "c.png")
    )
    assert code == 0, err
    assert (tmp_path / "c.png").stat().st_size > 10_000


def test_cli_lists_data_functions_and_explains_gd_sgd(capsys):
    code, out, _ = cli(capsys, "functions")
    assert code == 0
    assert "linreg" in out and "logreg" in out and "scale=true" in out and "l2=0.001" in out
    code, out, _ = cli(capsys, "optimizers")
    assert code == 0
    assert "--batch-size full" in out and "--batch-size 1" in out and "mini-batch SGD" in out
    assert "--noise" in out


BAD = [
    (["run", "linreg", "sgd", "--batch-size", "0"], "invalid batch size: 0"),
    (["run", "linreg", "sgd", "--batch-size", "443"], "442"),
    (["run", "linreg", "sgd", "--batch-size", "abc"], "invalid batch size: 'abc'"),
    (["run", "aniso", "sgd", "--batch-size", "8"], "data objective"),
    (["compare", "iso", "sgd", "adam", "--batch-size", "1"], "data objective"),
    (["run", "aniso", "sgd", "--noise", "-0.1"], "noise"),
    (["run", "aniso", "sgd", "--noise", "nan"], "noise"),
    (["run", "aniso", "sgd", "--noise", "x"], "noise"),
    (["run", "aniso", "sgd", "--seed", "-3"], "seed"),
    (["run", "aniso", "lbfgs", "--noise", "0.1"], "lbfgs"),
    (["run", "linreg:data=iris", "sgd"], "diabetes"),
    (["run", "linreg:features=bmx", "sgd"], "bmi"),
    (["run", "logreg:features=all,l2=0", "sgd"], "separate"),
    (["run", "linreg:scale=2", "sgd"], "scale"),
]


@pytest.mark.parametrize(("argv", "needle"), BAD, ids=[" ".join(a) for a, _ in BAD])
def test_cli_bad_stochastic_input_exits_2_with_one_line(capsys, argv, needle):
    code, out, err = cli(capsys, *argv)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    assert needle.lower() in lines[0].lower(), lines[0]
