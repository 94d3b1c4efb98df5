"""A read model table names the column that holds the stream its rows came from."""

from __future__ import annotations

import pytest

from lotse.projections.catalogue import PROJECTIONS
from lotse.projections.model import Table


def test_a_table_without_its_stream_key_column_is_refused_when_defined() -> None:
    with pytest.raises(ValueError, match="key column 'participant_id'"):
        Table(name="rm_x", columns=(("stream_id", "uuid NOT NULL"),), primary_key=("stream_id",))


def test_every_read_model_table_holds_its_stream_key() -> None:
    for projection in PROJECTIONS.values():
        for table in projection.tables:
            assert table.key in table.column_names, (projection.name, table.name)
