"""Permission-checked reads of the exchange: what the actor may not see is not found (404), never 403.

* Datasets: listed ones for everyone who may browse the catalog (active members' people, consortium
  staff); withdrawn ones for their owner's people and consortium staff. While a member is not active its
  people see its own datasets only, read-only (roles.reads_own_member_records).
* Policies: whole for the owner's people and consortium staff; other members read them without the allow
  and deny lists, with the engine's eligibility answer for their member instead. Core (Level 3) data has
  none to read, and says so rather than that its owner has not written one.
* Versions: their metadata wherever the dataset is visible; the files only through grant_download.
* Requests and grants: the requesting member's and the owner's people (read-only while their member is
  not active, so that what they may no longer do is refused as such: roles.reads_own_member_records);
  officers and auditors all of them; security officers those of confidential tier, which they decide.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.core.files import File
from django.db.models import Count, Prefetch, Q, QuerySet
from django.utils import timezone

from consortium.errors import NotFound
from consortium.models import Cluster, Member, MemberStatus
from consortium.roles import Capability, capabilities, reads_as_holder, reads_own_member_records
from exchange import policies
from exchange.models import (
    UNDECIDED_STATES,
    AccessPolicy,
    AccessRequest,
    Dataset,
    DatasetStatus,
    DatasetVersion,
    Grant,
    GrantState,
    RequestState,
    Tier,
)
from ledger.models import LedgerEntry


def _int(pk: Any) -> int:
    try:
        return int(pk)
    except (TypeError, ValueError):
        raise NotFound("Not found.") from None


def _visible_datasets(user: Any, caps: frozenset[Capability], api_key: Any) -> QuerySet[Dataset]:
    """The datasets an actor holding `caps` may see (the module docstring's rule), nothing loaded."""
    datasets = Dataset.objects.all()
    if Capability.BROWSE_CATALOG not in caps:
        if reads_own_member_records(user, api_key):  # a person of a member: member_id is set
            return datasets.filter(owner_id=user.member_id)
        return datasets.none()
    if Capability.VIEW_ALL_MEMBERS in caps:
        return datasets
    return datasets.filter(Q(status=DatasetStatus.LISTED) | Q(owner_id=user.member_id))


def dataset_list_for(*, user: Any, api_key: Any = None) -> QuerySet[Dataset]:
    """Datasets `user` may see, with owner and policy loaded and the number of versions annotated. Their
    `sources` are prefetched among the datasets `user` may see only: a source withdrawn by another member
    is as unknown in a derived dataset's lineage as on its own page."""
    caps = capabilities(user, api_key)
    return (
        _visible_datasets(user, caps, api_key)
        .select_related("owner", "policy")
        .prefetch_related(Prefetch("sources", queryset=_visible_datasets(user, caps, api_key)))
        .annotate(version_count=Count("versions"))
    )


def dataset_get_for(*, user: Any, pk: Any, api_key: Any = None) -> Dataset:
    """One dataset `user` may see; NotFound otherwise."""
    try:
        return dataset_list_for(user=user, api_key=api_key).get(pk=_int(pk))
    except Dataset.DoesNotExist:
        raise NotFound("No such dataset.") from None


def dataset_owner_list_for(*, user: Any, api_key: Any = None) -> QuerySet[Member]:
    """The members owning a dataset `user` may see, by legal name (the catalog's owner filter)."""
    visible = dataset_list_for(user=user, api_key=api_key)
    return Member.objects.filter(pk__in=visible.values("owner_id")).order_by("legal_name")


def dataset_derived_list_for(*, user: Any, dataset: Dataset, api_key: Any = None) -> QuerySet[Dataset]:
    """The datasets derived from `dataset` that `user` may see, by title (its lineage downstream)."""
    return dataset_list_for(user=user, api_key=api_key).filter(sources=dataset).order_by("title")


def policy_member_choices_for(*, user: Any, dataset: Dataset) -> QuerySet[Member]:
    """Members a policy of `dataset` may name on its allow or deny list, by legal name: active ones other
    than the owner (the members its people see), and those its current policy names already, so a member
    suspended or withdrawn since stays on the lists when the policy is set again. Only the owner's people
    choose among them: none for anyone else. services.policy_set refuses any other member as unknown, as
    it refuses an id that names none: setting a policy tells nobody which ids exist."""
    if user.member_id is None or user.member_id != dataset.owner_id:
        return Member.objects.none()
    policy = getattr(dataset, "policy", None)  # loaded with the dataset by dataset_get_for
    named = {int(pk) for pk in (*policy.allow_list, *policy.deny_list)} if policy is not None else set()
    return (
        Member.objects.filter(Q(status=MemberStatus.ACTIVE) | Q(pk__in=named))
        .exclude(pk=dataset.owner_id)
        .order_by("legal_name")
    )


def cluster_name_map(*, slugs: Any) -> dict[str, str]:
    """slug -> name of the clusters `slugs` names (one query; none for no slug). Clusters are public."""
    slugs = list(slugs)
    return dict(Cluster.objects.filter(slug__in=slugs).values_list("slug", "name")) if slugs else {}


def cluster_names_of(*, slugs: Any, names: dict[str, str] | None = None) -> list[str]:
    """The names of the clusters `slugs` names (a policy's eligible clusters), by name; a slug no cluster
    has any more is shown as it is. `names`: cluster_name_map's answer for these slugs, when the caller
    has it already (no query then). Clusters are public: anyone who may read a policy may read them."""
    names = cluster_name_map(slugs=slugs) if names is None else names
    return sorted(names.get(slug, slug) for slug in slugs)


@dataclass(frozen=True)
class PolicyView:
    """A dataset's policy as one actor may read it. `full`: with the allow and deny lists (the owner's
    people and consortium staff). Otherwise the public terms and `eligibility`, the engine's answer for the
    actor's member (None for an actor of no member)."""

    policy: AccessPolicy
    full: bool
    eligibility: policies.Decision | None = None


def policy_view_for(*, user: Any, dataset: Dataset, api_key: Any = None) -> PolicyView:
    """The policy of `dataset` (which `user` may see: from dataset_get_for) as `user` may read it: other
    members never learn whom the owner names on its allow or deny list. NotFound with the engine's reason
    when there is none to read (policies.policy_absence): `core_data_not_offered` for Level 3 data, which
    never has one, `no_policy` while the owner has not set it."""
    policy = getattr(dataset, "policy", None)
    absence = policies.policy_absence(grade=dataset.grade, policy=policy)
    if absence is not None:
        raise NotFound(absence.message, code=absence.code)
    assert policy is not None  # policy_absence said so
    owner_side = user.member_id is not None and user.member_id == dataset.owner_id
    if owner_side or Capability.VIEW_ALL_MEMBERS in capabilities(user, api_key):
        return PolicyView(policy=policy, full=True)
    member = user.member if user.member_id is not None else None
    decision = (
        policies.eligibility(
            member=member,
            policy=policy,
            owner=dataset.owner,
            cluster_names=cluster_name_map(slugs=policy.eligible_clusters),
        )
        if member is not None
        else None
    )
    return PolicyView(policy=policy, full=False, eligibility=decision)


def version_list_for(*, user: Any, dataset_pk: Any, api_key: Any = None) -> QuerySet[DatasetVersion]:
    """The versions of a dataset `user` may see, newest first (metadata only)."""
    dataset = dataset_get_for(user=user, pk=dataset_pk, api_key=api_key)
    return dataset.versions.select_related("created_by").order_by("-number")


def version_get_for(*, user: Any, dataset_pk: Any, number: Any, api_key: Any = None) -> DatasetVersion:
    """Version `number` of a dataset `user` may see, with its dataset loaded; NotFound otherwise."""
    dataset = dataset_get_for(user=user, pk=dataset_pk, api_key=api_key)
    try:
        version = dataset.versions.get(number=_int(number))
    except DatasetVersion.DoesNotExist:
        raise NotFound("No such version of this dataset.", code="no_version") from None
    version.dataset = dataset
    return version


def _concerning(
    user: Any, api_key: Any, *, dataset_field: str, member_field: str, tier_field: str
) -> Q | None:
    """The filter for requests or grants `user` may see; None for all of them; Q(pk__in=[]) for none."""
    caps = capabilities(user, api_key)
    if Capability.AUDIT in caps or Capability.REVOKE_ANY_GRANT in caps:
        return None
    if Capability.DECIDE_CONFIDENTIAL in caps:
        return Q(**{tier_field: Tier.CONFIDENTIAL}) | Q(
            **{f"{dataset_field}__policy__tier": Tier.CONFIDENTIAL}
        )
    if (
        Capability.BROWSE_CATALOG in caps or reads_own_member_records(user, api_key)
    ) and user.member_id is not None:
        return Q(**{member_field: user.member_id}) | Q(**{f"{dataset_field}__owner_id": user.member_id})
    return Q(pk__in=[])


def access_request_list_for(*, user: Any, api_key: Any = None) -> QuerySet[AccessRequest]:
    """Requests `user` may see (see the module docstring), with their dataset, members and deciders."""
    requests = AccessRequest.objects.select_related(
        "dataset",
        "dataset__owner",
        "requester_member",
        "requester",
        "steward_decided_by",
        "officer_decided_by",
        "grant",
    )
    visible = _concerning(
        user, api_key, dataset_field="dataset", member_field="requester_member_id", tier_field="tier"
    )
    return requests if visible is None else requests.filter(visible)


def access_request_decided_by(
    *, user: Any, api_key: Any = None, reading: bool = False
) -> tuple[QuerySet[AccessRequest], tuple[str, ...]] | None:
    """The requests `user` decides, among those it may see, and the states in which they wait for that
    decision: for a data steward its member's datasets' requests, pending; for a security officer every
    request, steward-approved (the confidential queue). None for anyone who decides no request. With
    `reading`, also those a data steward would decide but for its member's status (roles.reads_as_holder):
    the list it reads, read-only, while its member is not active; what waits for a decision it can take
    (access_request_awaiting_decision_for) asks without."""
    caps = capabilities(user, api_key)
    requests = access_request_list_for(user=user, api_key=api_key)
    if Capability.DECIDE_REQUESTS in caps or (
        reading and reads_as_holder(user, Capability.DECIDE_REQUESTS, api_key)
    ):
        return requests.filter(dataset__owner_id=user.member_id), (RequestState.PENDING,)
    if Capability.DECIDE_CONFIDENTIAL in caps:
        return requests, (RequestState.STEWARD_APPROVED,)
    return None


def access_request_awaiting_decision_for(*, user: Any, api_key: Any = None) -> QuerySet[AccessRequest]:
    """Requests waiting for `user`'s decision (access_request_decided_by); none for anyone else (officers
    and auditors see requests but decide none)."""
    decided = access_request_decided_by(user=user, api_key=api_key)
    if decided is None:
        return AccessRequest.objects.none()
    requests, waiting = decided
    return requests.filter(state__in=waiting)


def access_request_get_for(*, user: Any, pk: Any, api_key: Any = None) -> AccessRequest:
    """One request `user` may see; NotFound otherwise."""
    try:
        return access_request_list_for(user=user, api_key=api_key).get(pk=_int(pk))
    except AccessRequest.DoesNotExist:
        raise NotFound("No such access request.") from None


def access_request_mine_for(*, user: Any, api_key: Any = None) -> QuerySet[AccessRequest]:
    """The requests `user`'s member made, for its people who may request access (read-only while the member
    is not active: roles.reads_as_holder); none for anyone else."""
    if user.member_id is None or not reads_as_holder(user, Capability.REQUEST_ACCESS, api_key):
        return AccessRequest.objects.none()
    return access_request_list_for(user=user, api_key=api_key).filter(requester_member_id=user.member_id)


def access_request_undecided_mine_for(*, user: Any, api_key: Any = None) -> QuerySet[AccessRequest]:
    """The undecided requests (pending or steward-approved) that `user`'s member made."""
    return access_request_mine_for(user=user, api_key=api_key).filter(state__in=UNDECIDED_STATES)


def grant_list_for(*, user: Any, api_key: Any = None) -> QuerySet[Grant]:
    """Grants `user` may see, with their dataset and members."""
    grants = Grant.objects.select_related("dataset", "dataset__owner", "grantee", "revoked_by")
    visible = _concerning(
        user, api_key, dataset_field="dataset", member_field="grantee_id", tier_field="tier"
    )
    return grants if visible is None else grants.filter(visible)


def grant_get_for(*, user: Any, pk: Any, api_key: Any = None) -> Grant:
    """One grant `user` may see; NotFound otherwise."""
    try:
        return grant_list_for(user=user, api_key=api_key).get(pk=_int(pk))
    except Grant.DoesNotExist:
        raise NotFound("No such grant.") from None


def grant_of_request_for(*, user: Any, request: AccessRequest, api_key: Any = None) -> Grant | None:
    """The grant that `request` (which `user` may see) led to, if any and if `user` may see it."""
    return grant_list_for(user=user, api_key=api_key).filter(request_id=request.pk).first()


@dataclass(frozen=True)
class AccessStanding:
    """Where `user`'s member stands with a dataset before it asks for it, as access_request_submit would
    find it: the grant it holds (`grant`: pending or active, its quota used up or not), its undecided
    request (`request`), and why its member is not eligible under the policy (`ineligible`: the engine's
    reasons, empty when eligible). While any of them holds, a new request is refused."""

    grant: Grant | None
    request: AccessRequest | None
    ineligible: list[policies.Reason]

    @property
    def may_request(self) -> bool:
        return self.grant is None and self.request is None and not self.ineligible


def access_standing_for(
    *,
    user: Any,
    dataset: Dataset,
    policy: AccessPolicy,
    now: Any = None,
    cluster_names: dict[str, str] | None = None,
) -> AccessStanding:
    """`user`'s member's standing with `dataset` (which `user` may see) under `policy`: the same facts that
    access_request_submit refuses a request for (already_granted, duplicate_request, and the eligibility
    reasons of policies.eligibility), read through the selectors, so `user` (one of a member's people who
    may request access) learns only of its own member's grants and requests. `cluster_names`:
    cluster_name_map's answer for the policy's clusters, when the caller has it already."""
    now = now or timezone.now()
    live = Grant.in_state(GrantState.PENDING, now) | Grant.in_state(GrantState.ACTIVE, now)
    grant = (
        grant_list_for(user=user)
        .filter(live, dataset_id=dataset.pk, grantee_id=user.member_id)
        .order_by("-valid_until")
        .first()
    )
    request = (
        access_request_undecided_mine_for(user=user)
        .filter(dataset_id=dataset.pk)
        .order_by("-created_at")
        .first()
    )
    if cluster_names is None:
        cluster_names = cluster_name_map(slugs=policy.eligible_clusters)
    decision = policies.eligibility(
        member=user.member, policy=policy, owner=dataset.owner, cluster_names=cluster_names
    )
    return AccessStanding(grant=grant, request=request, ineligible=decision.reasons)


def request_entries_for(*, user: Any, pk: Any, api_key: Any = None) -> QuerySet[LedgerEntry]:
    """The ledger entries of a request `user` may see and of its grant, oldest first: their receipts."""
    request = access_request_get_for(user=user, pk=pk, api_key=api_key)
    subjects = Q(subject_type="access_request", subject_id=str(request.pk))
    grant_id = Grant.objects.filter(request_id=request.pk).values_list("pk", flat=True).first()
    if grant_id is not None:
        subjects |= Q(subject_type="grant", subject_id=str(grant_id))
    return LedgerEntry.objects.filter(subjects).order_by("accepted_at", "id")


class VersionStream(Iterator[bytes]):
    """The bytes of an open version file in chunks, for a StreamingHttpResponse. Before every
    `check_every`-th chunk after the first it reads the grant row again and stops (closing the file) as
    soon as the grant is revoked or expired, its window has ended or the dataset is withdrawn. `close()`
    closes the file: the response calls it even when the stream is never read."""

    def __init__(self, *, grant_id: int, handle: File, chunk_bytes: int, check_every: int) -> None:
        self.grant_id, self.handle = grant_id, handle
        self.chunk_bytes, self.check_every = chunk_bytes, check_every
        self.sent = 0

    def __iter__(self) -> VersionStream:
        return self

    def __next__(self) -> bytes:
        if self.handle.closed:
            raise StopIteration
        if self.sent and self.sent % self.check_every == 0 and not _grant_still_valid(self.grant_id):
            self.close()
            raise StopIteration
        chunk = self.handle.read(self.chunk_bytes)
        if not chunk:
            self.close()
            raise StopIteration
        self.sent += 1
        return chunk

    def close(self) -> None:
        self.handle.close()


def version_stream(
    *, grant_id: int, handle: File, chunk_bytes: int = 64 * 1024, check_every: int = 16
) -> VersionStream:
    """Stream `handle` (the file grant_download opened) under grant `grant_id`; the grant row is read again
    every `check_every` chunks (1 MiB by default). See VersionStream."""
    return VersionStream(grant_id=grant_id, handle=handle, chunk_bytes=chunk_bytes, check_every=check_every)


def _grant_still_valid(grant_id: int) -> bool:
    """Whether a stream under the grant may go on: the grant is active (Grant.in_state), its dataset listed
    and its grantee member still active (one suspended while a large file streams stops as at a
    revocation)."""
    return Grant.objects.filter(
        Grant.in_state(GrantState.ACTIVE, timezone.now()),
        pk=grant_id,
        dataset__status=DatasetStatus.LISTED,
        grantee__status=MemberStatus.ACTIVE,
    ).exists()
