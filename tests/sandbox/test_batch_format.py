"""The sandbox declares the batch file format on its own (it imports nothing of flexbridge, as Flex
would not): these pins keep its copy and flexbridge's ``schemas/batch.py`` the same format."""

from __future__ import annotations

from sandbox import sftp_batches
from schemas import batch


def test_the_response_file_has_the_columns_flexbridge_reads() -> None:
    assert sftp_batches.COLUMNS == batch.RESPONSE_COLUMNS


def test_a_file_holds_as_many_records_on_both_sides() -> None:
    assert sftp_batches.MAX_RECORDS == batch.MAX_RECORDS
