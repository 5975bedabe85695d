"""Every foreign key is served by an index: its columns lead the primary key, a unique
constraint or an index of their table. Without one, deleting the row it points to reads the
whole table (a station's, a session's, an operator's children), and so does every lookup of the
children by their parent (0041 added six that were missing)."""

from __future__ import annotations

from sqlalchemy import Index, PrimaryKeyConstraint, UniqueConstraint

from silkcharge.store.schema import Base


def leading_columns(table) -> list[tuple[str, ...]]:
    """The column lists of the table's primary key, unique constraints and indexes."""
    found = []
    for constraint in table.constraints:
        if isinstance(constraint, (PrimaryKeyConstraint, UniqueConstraint)):
            found.append(tuple(column.name for column in constraint.columns))
    for index in table.indexes:
        assert isinstance(index, Index)
        found.append(tuple(expression.name for expression in index.expressions if hasattr(expression, "name")))
    return found


def test_every_foreign_key_leads_an_index_of_its_table():
    unserved = []
    for table in Base.metadata.sorted_tables:
        served = leading_columns(table)
        for key in table.foreign_key_constraints:
            columns = tuple(column.name for column in key.columns)
            if not any(candidate[: len(columns)] == columns for candidate in served):
                unserved.append(f"{table.name}({', '.join(columns)})")
    assert not unserved, f"foreign keys no index serves: {unserved}"
