"""Credit REST representations: balances, statements, the leaderboard, flags, totals, transfers, and the
bodies of credit actions. Amounts are integers: mCR for CR, mPT for PT. Read shapes are built by
`ledger.credit.selectors`; these serializers pass them through and document them."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from consortium.api.fields import FreeTextField, IdField, ServiceChoiceField, WholeNumberField
from consortium.api.serializers import ReasonSerializer
from consortium.models import User
from ledger.canonical import MAX_SAFE_INTEGER
from ledger.credit import glossary, rules, statements
from ledger.credit.models import (
    TRANSFER_FIELDS,
    AffiliationClaim,
    CreditAccount,
    CreditAdjustment,
    CreditEpoch,
    CreditTransfer,
)
from ledger.receipts import EntryReceiptSerializer

# An epoch's name, a calendar month (YYYY-MM): in the routes (lookup_value_regex) and the `?epoch=` filters.
EPOCH_REGEX = r"[0-9]{4}-[0-9]{2}"


class BalanceSerializer(serializers.ModelSerializer):
    member = serializers.SerializerMethodField()
    kind = serializers.SerializerMethodField()
    unit = serializers.SerializerMethodField()
    posted = serializers.SerializerMethodField(help_text="Posted credits minus posted debits.")
    available = serializers.SerializerMethodField(help_text="Posted minus pending debits: what may be spent.")

    class Meta:
        model = CreditAccount
        fields = [
            "account",
            "member",
            "kind",
            "unit",
            "posted",
            "available",
            "debits_pending",
            "credits_pending",
            "debits_posted",
            "credits_posted",
        ]

    def get_member(self, account: CreditAccount) -> int | None:
        return statements.account_parts(account.account)[0]

    def get_kind(self, account: CreditAccount) -> str:
        return statements.account_parts(account.account)[1]

    def get_unit(self, account: CreditAccount) -> str:
        return statements.account_parts(account.account)[2]

    def get_posted(self, account: CreditAccount) -> int:
        return account.credits_posted - account.debits_posted

    def get_available(self, account: CreditAccount) -> int:
        return account.credits_posted - account.debits_posted - account.debits_pending


class BalanceRowSerializer(serializers.Serializer):
    account = serializers.CharField()
    kind = serializers.CharField()
    unit = serializers.CharField()
    posted = serializers.IntegerField()
    pending_debits = serializers.IntegerField()
    pending_credits = serializers.IntegerField()
    available = serializers.IntegerField()


class ChainSerializer(serializers.Serializer):
    base_mcr = serializers.IntegerField()
    tier_bps = serializers.IntegerField()
    quality_bps = serializers.IntegerField()
    repeat_bps = serializers.IntegerField()
    k = serializers.IntegerField()
    age_days = serializers.IntegerField()
    ramp_days = serializers.IntegerField()


class UseSerializer(serializers.Serializer):
    order = serializers.IntegerField(help_text="Credit order of the download entry.")
    seq = serializers.IntegerField(
        allow_null=True, help_text="Ledger sequence number (null until sequenced)."
    )
    consumer_member = serializers.IntegerField()
    consumer_name = serializers.CharField(
        allow_null=True,
        help_text="The consumer member's legal name; null when the caller may not see that member "
        "elsewhere (another member's people see active members only, so not a suspended or withdrawn one).",
    )
    consumer_group = serializers.CharField()
    k = serializers.IntegerField(
        help_text="k-th credited use of the dataset by the consumer group (0: none)."
    )
    chain = ChainSerializer()
    chain_text = serializers.CharField()
    points = serializers.IntegerField(help_text="mPT: base x tier x quality x repeat x age/ramp, one floor.")
    credited = serializers.BooleanField()
    reason = serializers.CharField(help_text="Why not credited: self_dealing, duplicate_listing, no_epoch.")


class EarnedSerializer(serializers.Serializer):
    dataset = serializers.IntegerField()
    title = serializers.CharField(
        allow_null=True,
        help_text="The dataset's title as its dataset.registered entry states it; null when the ledger has "
        "no registration for it.",
    )
    points = serializers.IntegerField()
    uses = UseSerializer(many=True)


class LineSerializer(serializers.Serializer):
    section = serializers.CharField(
        help_text="fee_earned, fee_spent, fee_resolved, refund, mint, adjustment, allowance, points, other"
    )
    seq = serializers.IntegerField(allow_null=True)
    order = serializers.IntegerField()
    code = serializers.CharField()
    ref = serializers.CharField()
    account = serializers.CharField(help_text="The member's account the line moves.")
    counterparty = serializers.CharField()
    amount = serializers.IntegerField(help_text="Into (+) or out of (-) the member's account.")
    unit = serializers.CharField()
    flag = serializers.CharField(help_text="pending, posted, post_pending or void_pending (the row itself).")
    state = serializers.CharField(
        help_text="pending, posted or void at the end of the statement's period, as its closing balances "
        "count it (an open epoch's period runs to now)."
    )
    resolved_seq = serializers.IntegerField(
        allow_null=True, help_text="Seq that posted or voided it within the period."
    )
    later_state = serializers.CharField(
        allow_null=True,
        help_text="posted or void when it was resolved after the period ended (the period still counts it "
        "pending); null otherwise.",
    )
    later_seq = serializers.IntegerField(allow_null=True, help_text="Seq of that later post or void.")
    transfer = serializers.CharField()


class EvidenceSerializer(serializers.Serializer):
    order = serializers.IntegerField()
    seq = serializers.IntegerField(allow_null=True)


# The schema is about no one epoch: it words the rules with v1's thresholds and says so.
RULES_TEXT = "\n".join(
    f"- `{n}` ({r.label}): {r.detects} {r.effect}" for n, r in glossary.rules(rules.RULES_V1).items()
)
METRICS_TEXT = "\n".join(f"- `{name}`: {label} ({kind})" for name, (label, kind) in glossary.METRICS.items())


class FlagSerializer(serializers.Serializer):
    epoch = serializers.CharField()
    index = serializers.IntegerField()
    rule = serializers.CharField(
        help_text="The anti-gaming rule that raised it (shares, counts and windows as rules v1 sets them; "
        f"the rules its epoch ran under may set others):\n{RULES_TEXT}"
    )
    groups = serializers.ListField(child=serializers.CharField())
    covers = serializers.ListField(child=serializers.CharField(), help_text="Groups whose mints it concerns.")
    holds_mint = serializers.BooleanField()
    metrics = serializers.DictField(
        child=serializers.IntegerField(),
        help_text="The figures the flag was raised on, by name (points in mPT, bps: 10000 = 100%, us: "
        f"microseconds):\n{METRICS_TEXT}",
    )
    evidence = EvidenceSerializer(many=True)


class StatementFlagSerializer(FlagSerializer):
    held_mcr = serializers.IntegerField(
        help_text="The member's mint this flag still holds (0 once resolved). A mint held by several flags "
        "is shown whole under each: the statement's held_mcr counts it once."
    )


class RankSerializer(serializers.Serializer):
    rank = serializers.IntegerField()
    of = serializers.IntegerField()
    minted = serializers.IntegerField()
    damped_points = serializers.IntegerField()
    raw_points = serializers.IntegerField()


class ProofStepSerializer(serializers.Serializer):
    hash = serializers.CharField(help_text="hex")
    sum = serializers.IntegerField()
    side = serializers.ChoiceField(choices=["L", "R"])


class AccountProofSerializer(serializers.Serializer):
    account = serializers.CharField()
    balance = serializers.IntegerField()
    index = serializers.IntegerField()
    path = ProofStepSerializer(many=True)
    verified = serializers.BooleanField()


class ProofSerializer(serializers.Serializer):
    entry_seq = serializers.IntegerField(allow_null=True, help_text="Seq of the epoch.settled entry.")
    balance_root = serializers.CharField(help_text="hex, as stated in epoch.settled")
    balance_total = serializers.IntegerField()
    leaves = serializers.IntegerField()
    rebuilt_root = serializers.CharField(help_text="hex, rebuilt from the transfers up to the settlement")
    rebuilt_total = serializers.IntegerField()
    root_matches = serializers.BooleanField()
    accounts = AccountProofSerializer(many=True)


class MemberRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    legal_name = serializers.CharField()
    sector = serializers.CharField()
    size_class = serializers.CharField()


class StatementSerializer(serializers.Serializer):
    epoch = serializers.CharField()
    member = MemberRefSerializer()
    group = serializers.CharField(
        help_text="The member's affiliation group at the end of the statement's period (at the epoch's "
        "settlement; now while open): a later affiliation does not change it."
    )
    earned_groups = serializers.ListField(
        child=serializers.CharField(),
        help_text="The groups the member earned under in the epoch (its credited uses' provider groups, "
        "sorted; two after a mid-epoch affiliation). The flags are those settlement applied to them.",
    )
    settled = serializers.BooleanField()
    opening_seq = serializers.IntegerField(
        allow_null=True,
        help_text="Seq of the previous epoch's epoch.settled: the opening balances are those after it "
        "(null for the first epoch). The statement covers everything after it, including what happened "
        "while no epoch was open.",
    )
    opened_seq = serializers.IntegerField(allow_null=True)
    settled_seq = serializers.IntegerField(allow_null=True)
    opening = BalanceRowSerializer(many=True)
    closing = BalanceRowSerializer(many=True)
    earned = EarnedSerializer(many=True)
    mint = LineSerializer(allow_null=True)
    fees_earned = LineSerializer(many=True)
    fees_spent = LineSerializer(many=True)
    refunds = LineSerializer(many=True)
    adjustments = LineSerializer(many=True)
    allowance = LineSerializer(many=True)
    lines = LineSerializer(many=True, help_text="Every transfer touching the member's accounts in the epoch.")
    flags = StatementFlagSerializer(many=True)
    held_mcr = serializers.IntegerField(
        help_text="The member's mint still held pending an audit, counted once however many flags hold it "
        "(0 once released or forfeited)."
    )
    rank = RankSerializer(allow_null=True)
    proof = ProofSerializer(allow_null=True)


class StatementQuerySerializer(serializers.Serializer):
    # A row id like the API's other `?member=` (IdFilter): 0 or 2**64 was a 404 "No such member".
    member = IdField(required=False, help_text="Auditors: whose statement (members: own).")


class StatementCSVQuerySerializer(StatementQuerySerializer):
    bom = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Start the file with a UTF-8 byte order mark, for spreadsheet programs: without it Excel "
        "reads the file in the computer's own encoding and garbles names and titles that are not ASCII "
        "(Chinese, for one). The portal's CSV link asks for it; leave it off for programs.",
    )


class LeaderboardRowSerializer(serializers.Serializer):
    rank = serializers.IntegerField()
    key = serializers.CharField(help_text="Member id, sector code or size class.")
    # The API's field name; SerializerMetaclass moves declared fields off the class, so DRF's own
    # Field.label attribute (which the stubs see) is not shadowed at run time.
    label = serializers.CharField(  # type: ignore[assignment]
        help_text="The member's legal name, the sector's section and words (`C Manufacturing`) or the size "
        "class's word."
    )
    members = serializers.IntegerField()
    minted = serializers.IntegerField(help_text="Minted and not forfeited (released, or still held).")
    held = serializers.IntegerField(help_text="Part of minted still held pending an audit.")
    raw_points = serializers.IntegerField()
    damped_points = serializers.IntegerField()
    member = serializers.IntegerField(allow_null=True)
    seq = serializers.IntegerField(allow_null=True, help_text="Seq of the member's mint (by member only).")


class LeaderboardQuerySerializer(serializers.Serializer):
    by = ServiceChoiceField(choices=["member", "sector", "size_class"], default="member")  # bad_grouping


class FlagQuerySerializer(serializers.Serializer):
    epoch = serializers.RegexField(rf"^{EPOCH_REGEX}$", required=False)


class BucketSerializer(serializers.Serializer):
    posted = serializers.IntegerField()
    pending_debits = serializers.IntegerField()
    pending_credits = serializers.IntegerField()
    available = serializers.IntegerField()


class TotalsSerializer(serializers.Serializer):
    outstanding = serializers.IntegerField(help_text="-posted(CR:issuance)")
    buckets = serializers.DictField(child=BucketSerializer(), help_text="pool, fees, escrow, members")
    in_flight = serializers.IntegerField(help_text="Pending CR transfers not yet posted or voided.")
    posted_sum = serializers.IntegerField(help_text="Sum of the buckets' posted balances (= outstanding).")
    available_plus_in_flight = serializers.IntegerField(
        help_text="Sum of the buckets' available parts plus in flight (= outstanding)."
    )
    reconciles = serializers.BooleanField()


# A transfer's own fields, with the causing entry's seq after its credit order.
_AFTER_ORDER = TRANSFER_FIELDS.index("order") + 1


class TransferSerializer(serializers.ModelSerializer):
    seq = serializers.IntegerField(allow_null=True, read_only=True, help_text="Seq of the causing entry.")

    class Meta:
        model = CreditTransfer
        fields = [*TRANSFER_FIELDS[:_AFTER_ORDER], "seq", *TRANSFER_FIELDS[_AFTER_ORDER:]]


TRANSFER_CSV_FIELDS = tuple(TransferSerializer.Meta.fields)


class HeldMintSerializer(serializers.Serializer):
    id = serializers.SerializerMethodField(help_text="<epoch>:<member>, the path of its resolve action.")
    epoch = serializers.SerializerMethodField()
    member = serializers.SerializerMethodField()
    amount = serializers.IntegerField()
    seq = serializers.IntegerField(allow_null=True)
    transfer = serializers.CharField(source="pk")

    def _parts(self, transfer: CreditTransfer) -> list[str]:
        return transfer.ref.split(":")  # mint:<epoch>:<member>

    def get_id(self, transfer: CreditTransfer) -> str:
        return ":".join(self._parts(transfer)[1:])

    def get_epoch(self, transfer: CreditTransfer) -> str:
        return self._parts(transfer)[1]

    def get_member(self, transfer: CreditTransfer) -> int:
        return int(self._parts(transfer)[2])


# The bodies of the credit actions that need a reason, as the schema shows them (`reason` required); the
# views read them with ReasonSerializer's lenient `reason` first (the *Body classes), so a missing or blank
# one is the service's 400 `reason_required`, as for the exchange's and the members' decisions.
REASON_HELP = "Why: recorded with the action. Missing or blank: 400 `reason_required`."


class ResolveSerializer(serializers.Serializer):
    decision = ServiceChoiceField(choices=["release", "forfeit"])  # the service's bad_decision
    reason = FreeTextField(max_length=2000, help_text=REASON_HELP)


class ResolveBodySerializer(ReasonSerializer, ResolveSerializer):
    """ResolveSerializer as the view reads it."""


class AdjustmentSerializer(serializers.ModelSerializer):
    proposed_by: serializers.SlugRelatedField[User] = serializers.SlugRelatedField(
        slug_field="username", read_only=True
    )
    approved_by: serializers.SlugRelatedField[User] = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    withdrawn_by: serializers.SlugRelatedField[User] = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )

    class Meta:
        model = CreditAdjustment
        fields = [
            "id",
            "member",
            "amount_mcr",
            "reason",
            "proposed_by",
            "proposed_at",
            "approved_by",
            "approved_at",
            "withdrawn_by",
            "withdrawn_at",
        ]


class AdjustmentProposeSerializer(serializers.Serializer):
    member = IdField()
    amount_mcr = WholeNumberField(
        service_range=(-MAX_SAFE_INTEGER, MAX_SAFE_INTEGER),  # the service's bad_amount, 0 too
        help_text="Positive: pool to the member; negative: back.",
    )
    reason = FreeTextField(max_length=2000, help_text=REASON_HELP)


class AdjustmentProposeBodySerializer(ReasonSerializer, AdjustmentProposeSerializer):
    """AdjustmentProposeSerializer as the view reads it."""


class AffiliationLinkSerializer(serializers.Serializer):
    member = IdField()
    # The API's field name; SerializerMetaclass moves declared fields off the class, so DRF's own
    # Field.parent attribute (which the stubs see) is not shadowed at run time.
    parent = IdField()  # type: ignore[assignment]


class AffiliationDeclareSerializer(serializers.Serializer):
    # The API's field name; SerializerMetaclass moves declared fields off the class, so DRF's own
    # Field.parent attribute (which the stubs see) is not shadowed at run time.
    parent = IdField()  # type: ignore[assignment]


class EpochSerializer(serializers.ModelSerializer):
    """A credit epoch (a calendar month): whether it is settled, and the hash of the rules it runs under."""

    state = serializers.SerializerMethodField()

    class Meta:
        model = CreditEpoch
        fields = ["epoch", "state", "rules"]
        extra_kwargs = {
            "rules": {"help_text": "SHA-256 (hex) of the rules its epoch.opened entry named."},
        }

    @extend_schema_field(serializers.ChoiceField(choices=["open", "settled"]))
    def get_state(self, epoch: CreditEpoch) -> str:
        return "settled" if epoch.settled_order >= 0 else "open"


class AffiliationClaimSerializer(serializers.ModelSerializer):
    state = serializers.SerializerMethodField()

    class Meta:
        model = AffiliationClaim
        fields = ["id", "member", "parent", "declared_by", "declared_at", "decided_by", "decided_at", "state"]

    def get_state(self, claim: AffiliationClaim) -> str:
        if claim.decided_at is None:
            return "awaiting_parent"
        return "accepted" if claim.accepted else "declined"


class ApprovedAdjustmentSerializer(serializers.Serializer):
    adjustment = AdjustmentSerializer()
    entry = EntryReceiptSerializer()
