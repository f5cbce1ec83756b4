"""attack11: ``residuo adjust extend`` on a credit whose expiry has already passed.

docs/late-evidence.md: ``extend`` moves a credit's expiry later and "no money moves";
bringing back credit past its expiry is ``reinstate``'s job, which is refused when
"the credit's expiry has passed and no --until". SPEC R2/R4: credit is usable while
``now < expires_at``, and what is unused at ``expires_at`` is forfeited, whenever the
sweep runs. So an extension dated after the expiry cannot save the money: the
outcome must not depend on whether an expiry sweep happened to run in between.

Today it does: with no sweep between the expiry and the extension, ``extend``
revives the whole 30.00 with no entry at all (the books read at any instant between
10 January and 1 February show 30.00 available past its expiry); with a sweep in
between, the same extension is applied and told to the customer (``credit.adjusted``
``extended`` until June) while the 30.00 stays forfeited.
"""

import pytest
from scenarios.kit import CUSTOMER, Books, fail, pay, rome

from ledger.errors import AdjustmentRefusedError


def _expired_credit(ledger: Books) -> None:
    """CR-MI0001: 30.00, paid 10 January 2025, so it expires 10 January 2026."""
    ledger.record(
        pay("MI0001", CUSTOMER, "30.00", rome(2025, 1, 10)), fail("MI0001", rome(2025, 1, 11))
    )


def test_an_extension_after_expiry_does_not_revive_credit_no_sweep_forfeited(
    ledger: Books,
) -> None:
    """No sweep ran between the expiry (10 January) and the extension (1 February):
    the 30.00 was unused at its expiry, so R4 forfeits it; the extension, which moves
    no money, must not make it usable again (that needs ``reinstate --until``)."""
    _expired_credit(ledger)

    with pytest.raises(AdjustmentRefusedError, match="expired"):
        ledger.adjust(
            "extend", CUSTOMER, rome(2026, 2, 1), credit_id="CR-MI0001", until=rome(2026, 6, 1)
        )
    ledger.sweep("all", rome(2026, 2, 2))

    credit = ledger.credit("CR-MI0001")
    assert (credit["available"], credit["forfeited"]) == (0, 3000)
    assert ledger.available(CUSTOMER, rome(2026, 1, 20)) == 0


def test_an_extension_after_expiry_is_the_same_whether_or_not_a_sweep_ran(
    ledger: Books,
) -> None:
    """The same facts (credit expired 10 January, extension on 1 February) with an
    expiry sweep on 20 January: the customer must not be told the credit runs until
    June while nothing of it can be used. Outcome expected: the extension is refused
    (as ``reinstate`` without ``--until`` is after expiry), nothing told as extended."""
    _expired_credit(ledger)
    ledger.sweep("all", rome(2026, 1, 20))

    # A refused adjustment raises, keeping nothing (Ledger.adjust).
    with pytest.raises(AdjustmentRefusedError, match="expired"):
        ledger.adjust(
            "extend", CUSTOMER, rome(2026, 2, 1), credit_id="CR-MI0001", until=rome(2026, 6, 1)
        )

    assert ledger.credit("CR-MI0001")["forfeited"] == 3000
    assert ledger.data("credit.adjusted") == []
    assert ledger.data("credit.adjusted") == []
