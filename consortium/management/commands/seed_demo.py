"""`manage.py seed_demo`: the demo consortium, loaded through the services so the ledger records it.

Idempotent. Every demo user's password is DEMO_PASSWORD ("demo-pass-2026"). A second run changes nothing.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from django.conf import settings
from django.core.management.base import CommandError, CommandParser
from django.db import transaction

from consortium import services
from consortium.management.base import OperatorCommand
from consortium.models import Cluster, ConsortiumRole, Member, MemberAPIKey, MemberRole, MemberStatus, User

DEMO_PASSWORD = "demo-pass-2026"  # noqa: S105 - documented demo credential, printed by --print-logins

CLUSTERS = [
    (
        "yrd-advanced-manufacturing",
        "Yangtze River Delta advanced manufacturing",
        "Shanghai, Jiangsu, Zhejiang",
    ),
    ("prd-electronics", "Pearl River Delta electronics", "Guangdong"),
]

# Real-format unified social credit codes: "91" (market regulation, enterprise) + division + organisation
# code, with the GB 32100-2015 check character computed by consortium.credit_code.check_character.
# (short name, legal name, code, size, GB/T 4754 section, region, clusters, final status, roles to create)
FULL = ("member_admin", "data_steward", "analyst")
MEMBERS: list[tuple[str, str, str, str, str, str, tuple[str, ...], str, tuple[str, ...]]] = [
    (
        "huaxin",
        "Jiangsu Huaxin Precision Machinery Co., Ltd.",
        "91320500MA1MXK3P7H",
        "large",
        "C",
        "Jiangsu",
        ("yrd-advanced-manufacturing",),
        MemberStatus.ACTIVE,
        FULL,
    ),
    (
        "jinglan",
        "Shanghai Jinglan Industrial Software Co., Ltd.",
        "91310000MA1FL4Q2XP",
        "medium",
        "I",
        "Shanghai",
        ("yrd-advanced-manufacturing",),
        MemberStatus.ACTIVE,
        FULL,
    ),
    (
        "haitong",
        "Ningbo Haitong Supply Chain Logistics Co., Ltd.",
        "91330200MA2GR8N5JC",
        "medium",
        "G",
        "Zhejiang",
        ("yrd-advanced-manufacturing",),
        MemberStatus.ACTIVE,
        ("member_admin", "analyst"),
    ),
    (
        "xinpeng",
        "Shenzhen Xinpeng Electronics Co., Ltd.",
        "91440300MA5EU2W8K6",
        "large",
        "C",
        "Guangdong",
        ("prd-electronics",),
        MemberStatus.ACTIVE,
        FULL,
    ),
    (
        "lingxi",
        "Guangzhou Lingxi Semiconductor Testing Co., Ltd.",
        "91440100MA59CT6R3B",
        "small",
        "M",
        "Guangdong",
        ("prd-electronics", "yrd-advanced-manufacturing"),
        MemberStatus.ACTIVE,
        FULL,
    ),
    (
        "yuxing",
        "Dongguan Yuxing Precision Mould Co., Ltd.",
        "91441900MA4UMN0Y1Y",
        "micro",
        "C",
        "Guangdong",
        ("prd-electronics",),
        MemberStatus.ACTIVE,
        ("member_admin", "data_steward"),
    ),
    (
        "ruitai",
        "Foshan Ruitai Appliance Trading Co., Ltd.",
        "91440600MA4X1P5A82",
        "medium",
        "F",
        "Guangdong",
        ("prd-electronics",),
        MemberStatus.ACTIVE,
        ("member_admin",),
    ),
    (
        "qiaoneng",
        "Zhuhai Qiaoneng Power Supply Co., Ltd.",
        "91440400MA4W7H2B62",
        "small",
        "D",
        "Guangdong",
        ("prd-electronics",),
        MemberStatus.SUSPENDED,
        ("member_admin",),
    ),
    (
        "anbo",
        "Hangzhou Anbo Data Services Co., Ltd.",
        "91330100MA2J0D9L49",
        "micro",
        "I",
        "Zhejiang",
        ("yrd-advanced-manufacturing",),
        MemberStatus.APPLIED,
        (),
    ),
]
STAFF = [
    ("officer", ConsortiumRole.OFFICER, "Zhou", "Min"),
    ("security", ConsortiumRole.SECURITY_OFFICER, "Sun", "Lei"),
    ("auditor", ConsortiumRole.AUDITOR, "Zhao", "Hui"),
]
ROLE_SUFFIX = {"member_admin": "admin", "data_steward": "steward", "analyst": "analyst"}
API_KEY_MEMBER, API_KEY_NAME = "huaxin", "Huaxin MES nightly sync"


class Command(OperatorCommand):
    help = "Load the demo consortium (members, clusters, people in every role, an API key). Idempotent."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--print-logins",
            action="store_true",
            help="Print the URLs and the demo logins: each staff role's, each firm's by member role.",
        )
        parser.add_argument("--site-url", default=settings.SITE_URL, help="Base URL for the printed links.")
        parser.add_argument(
            "--allow-production",
            action="store_true",
            help="Load the demo even with DEBUG off (a public demo installation; never a real consortium).",
        )

    def handle(self, *args: Any, print_logins: bool = False, site_url: str = "", **options: Any) -> None:
        if not (settings.DEBUG or options.get("allow_production")):
            raise CommandError(
                "Refusing to load the demo consortium with DEBUG off: it creates logins with the published "
                "demo password and a live API key. Pass --allow-production if this really is a demo "
                "installation."
            )
        # All or nothing: a run that fails half-way leaves no half-built consortium behind.
        with transaction.atomic():
            created = self._seed_consortium()
        self.stdout.write(
            f"Demo consortium: {created} new record(s)" if created else "Demo consortium already loaded."
        )
        import_module("exchange.demo").seed_exchange_demo(stdout=self.stdout)  # after the members it uses
        if print_logins:
            self._print_logins(site_url.rstrip("/"))

    def _seed_consortium(self) -> int:
        created = 0
        for slug, name, region in CLUSTERS:
            _, new = Cluster.objects.get_or_create(slug=slug, defaults={"name": name, "region": region})
            created += new
        staff: dict[str, User] = {}
        for username, staff_role, last, first in STAFF:
            user = User.objects.filter(username=username).first()
            if user is None:
                user = services.staff_user_create(
                    username=username,
                    email=f"{username}@consortium.example",
                    consortium_role=staff_role,
                    password=DEMO_PASSWORD,
                    first_name=first,
                    last_name=last,
                )
                created += 1
            staff[username] = user
        officer = staff["officer"]
        created += _start_credit()  # before the admissions, so each founder's allowance is posted
        members: dict[str, Member] = {}
        for short, legal_name, code, size, sector, region, clusters, status, roles in MEMBERS:
            member = Member.objects.filter(credit_code=code).first()
            if member is None:
                member = services.member_apply(
                    legal_name=legal_name,
                    credit_code=code,
                    size_class=size,
                    sector=sector,
                    region=region,
                    contact_name=f"{short.title()} contact",
                    contact_email=f"contact@{short}.example.cn",
                    contact_phone="+86 400 800 0000",
                    cluster_slugs=clusters,
                )
                created += 1
            # Walk forward to the wanted status; a half-finished earlier run resumes here.
            if status != MemberStatus.APPLIED and member.status == MemberStatus.APPLIED:
                member = services.member_admit(member=member, actor=officer, reason="Demo consortium founder")
                created += 1
            if status == MemberStatus.SUSPENDED and member.status == MemberStatus.ACTIVE:
                member = services.member_suspend(
                    member=member, actor=officer, reason="Demo: annual dues overdue"
                )
                created += 1
            members[short] = member
            for role in roles:
                username = f"{short}-{ROLE_SUFFIX[role]}"
                if not User.objects.filter(username=username).exists():
                    services.user_create(
                        actor=officer,
                        member=member,
                        username=username,
                        email=f"{username}@{short}.example.cn",
                        role=role,
                        password=DEMO_PASSWORD,
                    )
                    created += 1
        key_member = members[API_KEY_MEMBER]
        if not MemberAPIKey.objects.filter(member=key_member, name=API_KEY_NAME).exists():
            admin = User.objects.get(username=f"{API_KEY_MEMBER}-admin")
            _, raw_key = services.api_key_create(actor=admin, name=API_KEY_NAME, scopes=["read", "request"])
            created += 1
            # The only time this key is ever shown.
            self.stdout.write(f"Demo API key for {key_member.legal_name} (scopes read, request): {raw_key}")
        return created

    def _print_logins(self, site_url: str) -> None:
        self.stdout.write("")
        self.stdout.write(f"Portal:   {site_url}/")
        self.stdout.write(f"API docs: {site_url}/api/docs/")
        self.stdout.write(f"Demo logins (password for all: {DEMO_PASSWORD}):")
        for line in login_table():
            self.stdout.write(f"  {line}".rstrip())


def login_table() -> list[str]:
    """The demo's logins as they are in the database: each staff role's, then each firm's by member role.

    Read back rather than listed here, so the table shows exactly who can log in (people the exchange demo
    adds, such as Haitong's steward, included; nobody deactivated or moved to another role since). A firm
    without people is left out; a role a firm has nobody in shows "-".
    """
    staff: list[list[str]] = []
    for username, _, _, _ in STAFF:
        user = User.objects.filter(username=username, is_active=True).exclude(consortium_role="").first()
        if user is not None:
            note = " (also Django admin)" if user.is_staff else ""
            staff.append([username, f"{user.get_consortium_role_display()}{note}"])
    roles = list(ROLE_SUFFIX)
    firms: list[list[str]] = []
    for short, _, code, *_ in MEMBERS:
        member = Member.objects.filter(credit_code=code).first()
        if member is None:
            continue
        people = {
            user.member_role: user.username
            for user in User.objects.filter(
                member=member,
                is_active=True,
                username__in=[f"{short}-{suffix}" for suffix in ROLE_SUFFIX.values()],
            )
        }
        if people:
            status = (
                f" ({member.get_status_display().lower()})" if member.status != MemberStatus.ACTIVE else ""
            )
            firms.append([people.get(role, "-") for role in roles] + [member.legal_name + status])
    header = [MemberRole(role).label.removeprefix("Member ").lower() for role in roles] + ["member firm"]
    rows = [*staff, header, *firms]
    width = max(len(cell) for row in rows for cell in row[:-1]) + 2
    return ["".join(cell.ljust(width) for cell in row[:-1]) + row[-1] for row in rows]


def _start_credit() -> int:
    """Publish the demo's credit rules and open this month's epoch, once."""
    from ledger.credit import rules
    from ledger.credit.models import CreditEpoch, CreditRules
    from ledger.credit.services import credit_epoch_open, credit_rules_publish

    created = 0
    if not CreditRules.objects.exists():
        credit_rules_publish(actor=None, params=rules.DEMO_RULES)
        created += 1
    if not CreditEpoch.objects.exists():
        credit_epoch_open(actor=None)
        created += 1
    return created
