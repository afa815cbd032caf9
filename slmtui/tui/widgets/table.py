"""Setting up the app's data tables: a title and named columns, in one call."""

from __future__ import annotations

from textual.widgets import DataTable

# (label, key, width); width None lets the column take what is left.
Column = tuple[str, str, int | None]


def set_up_table(table: DataTable, title: str, columns: list[Column]) -> DataTable:
    """Give `table` its border title and columns, and the focus."""
    table.border_title = title
    for label, key, width in columns:
        table.add_column(label, key=key, width=width)
    table.focus()
    return table
