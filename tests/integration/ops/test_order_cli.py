"""``flexbridge order`` pointed at something that is not a worker, or given arguments out of range:
one line and exit 2, never "unknown order" (an order that exists would be taken for missing)."""

from __future__ import annotations

import pytest

from tests.support import Sandbox, run_flexbridge

pytestmark = pytest.mark.integration


async def test_a_404_from_what_is_not_a_worker_is_not_an_unknown_order(sandbox: Sandbox) -> None:
    code, out, err = await run_flexbridge({}, "order", "ORD-1", "--url", sandbox.root)
    assert (code, out) == (2, ""), err
    assert "not a flexbridge worker?" in err and "unknown order" not in err, err


@pytest.mark.parametrize(
    ("args", "says"), [(("X", "--timeout", "-1"), "--timeout: must be above 0"), (("",), "ORDER_ID")]
)
async def test_arguments_out_of_range_are_refused_naming_them(args: tuple[str, ...], says: str) -> None:
    code, _, err = await run_flexbridge({}, "order", *args)
    assert code == 2 and says in err and "Traceback" not in err, err
