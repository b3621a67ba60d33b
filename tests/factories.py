"""factory-boy factories for members, people and API keys (through the services where state matters)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import factory
from django.contrib.auth.models import Group
from django.utils import timezone

from consortium import credit_code
from consortium.models import (
    Cluster,
    ConsortiumRole,
    Member,
    MemberAPIKey,
    MemberRole,
    MemberStatus,
    Sector,
    SizeClass,
    User,
)

DEMO_PASSWORD = "demo-pass-2026"


def make_credit_code(n: int) -> str:
    """A valid unified social credit code, distinct for each n: an enterprise (91) in Shenzhen (440300)."""
    first17 = f"91440300{n:09d}"
    return first17 + credit_code.check_character(first17)


class ClusterFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Cluster
        django_get_or_create = ("slug",)

    slug = factory.Sequence(lambda n: f"cluster-{n}")
    name = factory.LazyAttribute(lambda o: o.slug.replace("-", " ").title())
    region = "Guangdong"


class MemberFactory(factory.django.DjangoModelFactory):
    """An active member with its group (use status=... for other states; history is not written)."""

    class Meta:
        model = Member

    legal_name = factory.Sequence(lambda n: f"Test Firm {n} Co., Ltd.")
    credit_code = factory.Sequence(lambda n: make_credit_code(n + 1000))
    size_class = SizeClass.MEDIUM
    sector = Sector.C
    region = "Guangdong"
    contact_name = "Li Wei"
    contact_email = factory.Sequence(lambda n: f"contact{n}@firm.example")
    status = MemberStatus.ACTIVE
    status_changed_at = factory.LazyFunction(timezone.now)
    group = factory.LazyAttribute(lambda o: Group.objects.create(name=f"member:{o.credit_code}"))


class UserFactory(factory.django.DjangoModelFactory):
    """A person in a member (member_admin by default); password DEMO_PASSWORD."""

    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@firm.example")
    member = factory.SubFactory(MemberFactory)
    member_role = MemberRole.ADMIN
    password = factory.django.Password(DEMO_PASSWORD)

    @factory.post_generation
    def join_group(self, create: bool, extracted: Any, **kwargs: Any) -> None:
        if create and self.member_id:
            self.groups.add(self.member.group)


class StaffFactory(factory.django.DjangoModelFactory):
    """Consortium staff; officers get the Django admin, as services.staff_user_create does."""

    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"staff{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@consortium.example")
    consortium_role = ConsortiumRole.OFFICER
    is_staff = factory.LazyAttribute(lambda o: o.consortium_role == ConsortiumRole.OFFICER)
    password = factory.django.Password(DEMO_PASSWORD)

    @factory.post_generation
    def officer_permissions(self, create: bool, extracted: Any, **kwargs: Any) -> None:
        if create and self.consortium_role == ConsortiumRole.OFFICER:
            from consortium.services import officers_group

            self.groups.add(officers_group())


def make_api_key(*, admin: User, scopes: list[str], expires_at: Any = None, name: str = "test key") -> tuple:
    """A key made through the service (so it is real in every way); returns (key, raw)."""
    from consortium.services import api_key_create

    return api_key_create(
        actor=admin, name=name, scopes=scopes, expires_at=expires_at or timezone.now() + timedelta(days=30)
    )


__all__ = ["ClusterFactory", "MemberAPIKey", "MemberFactory", "StaffFactory", "UserFactory", "make_api_key"]
