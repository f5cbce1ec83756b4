"""Every notification residuo publishes, by CloudEvents type: the contract's (SPEC §3)
and residuo's extensions (``messages.notifications``, ``messages.corrections``)."""

from typing import Final

from messages.corrections import (
    CreditAdjusted,
    CreditReinstated,
    EventLate,
    HoldReinstated,
    NotificationVoided,
    RequestReconsidered,
    SpidOrderReinstated,
)
from messages.notifications import (
    CreditApplied,
    CreditExpired,
    CreditExpiringSoon,
    CreditGranted,
    CreditRestored,
    EventRejected,
    HoldReleased,
    NotificationData,
    OrderFunded,
    PaymentMatched,
    PaymentUnmatched,
    RefundRequested,
    RequestRejected,
    SpidDeadlineApproaching,
    SpidOrderCancelled,
    SweepCompleted,
    TopupRequired,
)

__all__ = ["NOTIFICATION_TYPES"]

NOTIFICATION_TYPES: Final[dict[str, type[NotificationData]]] = {
    model.TYPE: model
    for model in (
        CreditGranted,
        SpidOrderCancelled,
        CreditApplied,
        TopupRequired,
        OrderFunded,
        HoldReleased,
        RefundRequested,
        CreditExpired,
        CreditExpiringSoon,
        SpidDeadlineApproaching,
        RequestRejected,
        EventRejected,
        SweepCompleted,
        PaymentUnmatched,
        PaymentMatched,
        CreditRestored,
        NotificationVoided,
        CreditReinstated,
        HoldReinstated,
        SpidOrderReinstated,
        RequestReconsidered,
        EventLate,
        CreditAdjusted,
    )
}
