"""Template filters for the words a page says of a member that is not active (consortium.member_status)."""

from __future__ import annotations

from django import template

from consortium import member_status

register = template.Library()


@register.filter
def withheld_while(consequence: str, status: str) -> str:
    """`{{ "no download is taken"|withheld_while:member.status }}`: the consequence, how long the status
    withholds it and what follows (member_status.withheld_while)."""
    return member_status.withheld_while(status, consequence)
