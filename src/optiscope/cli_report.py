"""``optiscope report`` (being written: registered on ``optiscope.cli.app`` when imported)."""
