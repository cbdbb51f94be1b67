"""Every table of Qunyun, imported in one place for migrations and tenant-wide operations."""

from qunyun.channel.models import Consumer, ContactTag, Distributor, ImportRun, Store, Tag
from qunyun.core.db import Base
from qunyun.groups.models import Group, Membership, PlanChange, PlanRevision
from qunyun.org.models import Account, IntegrationToken, RegionRow, Staff, Tenant

__all__ = [
    "Account",
    "Base",
    "Consumer",
    "ContactTag",
    "Distributor",
    "Group",
    "ImportRun",
    "IntegrationToken",
    "Membership",
    "PlanChange",
    "PlanRevision",
    "RegionRow",
    "Staff",
    "Store",
    "Tag",
    "Tenant",
]
