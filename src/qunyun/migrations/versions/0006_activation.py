"""Activation: red packets, relays, lucky draws, flash sales, group-buys, 接龙 order lists

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "activation_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("ts", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("group_id", sa.String(length=64), nullable=False),
        sa.Column(
            "member_kind",
            sa.Enum(
                "store",
                "distributor",
                "consumer",
                "staff",
                name="event_member_kind",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("member_id", sa.String(length=64), nullable=False),
        sa.Column("red_packet_id", sa.Integer(), nullable=True),
        sa.Column("amount_fen", sa.BigInteger(), nullable=True),
        sa.Column("exported_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_activation_events_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_activation_events")),
        sa.UniqueConstraint("event_id", name=op.f("uq_activation_events_event_id")),
    )
    with op.batch_alter_table("activation_events", schema=None) as batch_op:
        batch_op.create_index(
            "ix_activation_events_pending", ["tenant_id", "exported_at", "id"], unique=False
        )

    op.create_table(
        "order_cutoffs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("cutoff_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deliver_on", sa.Date(), nullable=False),
        sa.Column("delivery_slot", sa.String(length=10), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_order_cutoffs_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_cutoffs")),
        sa.UniqueConstraint(
            "tenant_id", "cutoff_at", name=op.f("uq_order_cutoffs_tenant_id_cutoff_at")
        ),
    )
    op.create_table(
        "red_packet_rules",
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("scope", sa.String(length=64), nullable=False),
        sa.Column("monthly_budget_fen", sa.BigInteger(), nullable=False),
        sa.Column("min_total_fen", sa.BigInteger(), nullable=False),
        sa.Column("max_total_fen", sa.BigInteger(), nullable=False),
        sa.Column("min_count", sa.Integer(), nullable=False),
        sa.Column("max_count", sa.Integer(), nullable=False),
        sa.Column("window_start", sa.String(length=5), nullable=False),
        sa.Column("window_end", sa.String(length=5), nullable=False),
        sa.Column("expiry_minutes", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "1 <= min_count AND min_count <= max_count", name=op.f("ck_red_packet_rules_counts")
        ),
        sa.CheckConstraint(
            "1 <= min_total_fen AND min_total_fen <= max_total_fen",
            name=op.f("ck_red_packet_rules_totals"),
        ),
        sa.CheckConstraint("expiry_minutes >= 1", name=op.f("ck_red_packet_rules_expiry")),
        sa.CheckConstraint("monthly_budget_fen >= 0", name=op.f("ck_red_packet_rules_budget")),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_red_packet_rules_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "scope", name=op.f("pk_red_packet_rules")),
    )
    op.create_table(
        "flash_sales",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("group_id", sa.String(length=64), nullable=False),
        sa.Column("sku", sa.String(length=64), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("price_fen", sa.BigInteger(), nullable=False),
        sa.Column("stock", sa.Integer(), nullable=False),
        sa.Column("sold", sa.Integer(), nullable=False),
        sa.Column("per_member_limit", sa.Integer(), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("0 <= sold AND sold <= stock", name=op.f("ck_flash_sales_stock")),
        sa.CheckConstraint("per_member_limit >= 1", name=op.f("ck_flash_sales_limit")),
        sa.CheckConstraint("price_fen >= 0", name=op.f("ck_flash_sales_price")),
        sa.CheckConstraint("starts_at < ends_at", name=op.f("ck_flash_sales_window")),
        sa.ForeignKeyConstraint(
            ["tenant_id", "group_id"],
            ["groups.tenant_id", "groups.group_id"],
            name="fk_flash_sales_group",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_flash_sales_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_flash_sales")),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "group_buys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("group_id", sa.String(length=64), nullable=False),
        sa.Column("sku", sa.String(length=64), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("price_fen", sa.BigInteger(), nullable=False),
        sa.Column("team_size", sa.Integer(), nullable=False),
        sa.Column("team_minutes", sa.Integer(), nullable=False),
        sa.Column("stock", sa.Integer(), nullable=False),
        sa.Column("reserved", sa.Integer(), nullable=False),
        sa.Column("sold", sa.Integer(), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "0 <= reserved AND 0 <= sold AND reserved + sold <= stock",
            name=op.f("ck_group_buys_stock"),
        ),
        sa.CheckConstraint("starts_at < ends_at", name=op.f("ck_group_buys_window")),
        sa.CheckConstraint("team_size >= 2", name=op.f("ck_group_buys_team_size")),
        sa.ForeignKeyConstraint(
            ["tenant_id", "group_id"],
            ["groups.tenant_id", "groups.group_id"],
            name="fk_group_buys_group",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_group_buys_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_group_buys")),
    )
    op.create_table(
        "lucky_draws",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("group_id", sa.String(length=64), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("winners", sa.Integer(), nullable=False),
        sa.Column("seed_hash", sa.String(length=64), nullable=False),
        sa.Column("seed", sa.String(length=64), nullable=False),
        sa.Column(
            "status",
            sa.Enum("open", "drawn", name="draw_status", native_enum=False, create_constraint=True),
            nullable=False,
        ),
        sa.Column("entries_close_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("drawn_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("winners >= 1", name=op.f("ck_lucky_draws_winners")),
        sa.ForeignKeyConstraint(
            ["tenant_id", "group_id"],
            ["groups.tenant_id", "groups.group_id"],
            name="fk_lucky_draws_group",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_lucky_draws_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lucky_draws")),
    )
    op.create_table(
        "order_lists",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("group_id", sa.String(length=64), nullable=False),
        sa.Column("list_date", sa.Date(), nullable=False),
        sa.Column(
            "partner_kind",
            sa.Enum(
                "store",
                "distributor",
                "consumer",
                "staff",
                name="partner_kind",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("partner_id", sa.String(length=64), nullable=False),
        sa.Column("commission_bp", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "0 <= commission_bp AND commission_bp <= 10000", name=op.f("ck_order_lists_commission")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "group_id"],
            ["groups.tenant_id", "groups.group_id"],
            name="fk_order_lists_group",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_order_lists_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_lists")),
        sa.UniqueConstraint(
            "tenant_id",
            "group_id",
            "list_date",
            name=op.f("uq_order_lists_tenant_id_group_id_list_date"),
        ),
    )
    op.create_table(
        "red_packet_budgets",
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("group_id", sa.String(length=64), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("budget_fen", sa.BigInteger(), nullable=False),
        sa.Column("spent_fen", sa.BigInteger(), nullable=False),
        sa.CheckConstraint(
            "0 <= spent_fen AND spent_fen <= budget_fen", name=op.f("ck_red_packet_budgets_spent")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "group_id"],
            ["groups.tenant_id", "groups.group_id"],
            name="fk_red_packet_budgets_group",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_red_packet_budgets_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "tenant_id", "group_id", "month", name=op.f("pk_red_packet_budgets")
        ),
    )
    op.create_table(
        "red_packet_relays",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("group_id", sa.String(length=64), nullable=False),
        sa.Column("total_fen", sa.BigInteger(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("rounds", sa.Integer(), nullable=False),
        sa.Column("rounds_sent", sa.Integer(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "running",
                "done",
                "stopped",
                name="relay_status",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("budget_month", sa.String(length=7), nullable=False),
        sa.Column(
            "next_sender_kind",
            sa.Enum(
                "store",
                "distributor",
                "consumer",
                "staff",
                name="next_sender_kind",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=True,
        ),
        sa.Column("next_sender_id", sa.String(length=64), nullable=True),
        sa.Column("refunded_fen", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "rounds >= 1 AND 0 <= rounds_sent AND rounds_sent <= rounds",
            name=op.f("ck_red_packet_relays_rounds"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "group_id"],
            ["groups.tenant_id", "groups.group_id"],
            name="fk_red_packet_relays_group",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_red_packet_relays_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_red_packet_relays")),
    )
    op.create_table(
        "collected_orders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("cutoff_id", sa.Integer(), nullable=False),
        sa.Column("list_id", sa.Integer(), nullable=False),
        sa.Column(
            "member_kind",
            sa.Enum(
                "store",
                "distributor",
                "consumer",
                "staff",
                name="order_buyer_kind",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("member_id", sa.String(length=64), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("commission_fen", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["cutoff_id"],
            ["order_cutoffs.id"],
            name=op.f("fk_collected_orders_cutoff_id_order_cutoffs"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["list_id"],
            ["order_lists.id"],
            name=op.f("fk_collected_orders_list_id_order_lists"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_collected_orders_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_collected_orders")),
        sa.UniqueConstraint(
            "cutoff_id",
            "list_id",
            "member_kind",
            "member_id",
            name=op.f("uq_collected_orders_cutoff_id_list_id_member_kind_member_id"),
        ),
    )
    with op.batch_alter_table("collected_orders", schema=None) as batch_op:
        batch_op.create_index("ix_collected_orders_list", ["list_id"], unique=False)

    op.create_table(
        "flash_sale_buyers",
        sa.Column("sale_id", sa.Integer(), nullable=False),
        sa.Column(
            "member_kind",
            sa.Enum(
                "store",
                "distributor",
                "consumer",
                "staff",
                name="buyer_kind",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("member_id", sa.String(length=64), nullable=False),
        sa.Column("bought", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["sale_id"],
            ["flash_sales.id"],
            name=op.f("fk_flash_sale_buyers_sale_id_flash_sales"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "sale_id", "member_kind", "member_id", name=op.f("pk_flash_sale_buyers")
        ),
    )
    op.create_table(
        "flash_sale_orders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("sale_id", sa.Integer(), nullable=False),
        sa.Column(
            "member_kind",
            sa.Enum(
                "store",
                "distributor",
                "consumer",
                "staff",
                name="order_member_kind",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("member_id", sa.String(length=64), nullable=False),
        sa.Column("qty", sa.Integer(), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("attempt_id", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("qty >= 1", name=op.f("ck_flash_sale_orders_qty")),
        sa.ForeignKeyConstraint(
            ["sale_id"],
            ["flash_sales.id"],
            name=op.f("fk_flash_sale_orders_sale_id_flash_sales"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_flash_sale_orders_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_flash_sale_orders")),
        sa.UniqueConstraint(
            "sale_id", "attempt_id", name=op.f("uq_flash_sale_orders_sale_id_attempt_id")
        ),
    )
    with op.batch_alter_table("flash_sale_orders", schema=None) as batch_op:
        batch_op.create_index(
            "ix_flash_sale_orders_member", ["sale_id", "member_kind", "member_id"], unique=False
        )

    op.create_table(
        "group_buy_teams",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("deal_id", sa.Integer(), nullable=False),
        sa.Column(
            "leader_kind",
            sa.Enum(
                "store",
                "distributor",
                "consumer",
                "staff",
                name="leader_kind",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("leader_id", sa.String(length=64), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "open",
                "complete",
                "cancelled",
                name="team_status",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("joined", sa.Integer(), nullable=False),
        sa.Column("deadline", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("1 <= joined", name=op.f("ck_group_buy_teams_joined")),
        sa.ForeignKeyConstraint(
            ["deal_id"],
            ["group_buys.id"],
            name=op.f("fk_group_buy_teams_deal_id_group_buys"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_group_buy_teams_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_group_buy_teams")),
    )
    with op.batch_alter_table("group_buy_teams", schema=None) as batch_op:
        batch_op.create_index("ix_group_buy_teams_open", ["status", "deadline"], unique=False)

    op.create_table(
        "lucky_draw_entries",
        sa.Column("draw_id", sa.Integer(), nullable=False),
        sa.Column(
            "member_kind",
            sa.Enum(
                "store",
                "distributor",
                "consumer",
                "staff",
                name="entrant_kind",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("member_id", sa.String(length=64), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("entered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["draw_id"],
            ["lucky_draws.id"],
            name=op.f("fk_lucky_draw_entries_draw_id_lucky_draws"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_lucky_draw_entries_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "draw_id", "member_kind", "member_id", name=op.f("pk_lucky_draw_entries")
        ),
    )
    op.create_table(
        "order_list_items",
        sa.Column("list_id", sa.Integer(), nullable=False),
        sa.Column("item_code", sa.String(length=64), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("price_fen", sa.BigInteger(), nullable=False),
        sa.Column("supplier_id", sa.String(length=64), nullable=False),
        sa.CheckConstraint("price_fen >= 0", name=op.f("ck_order_list_items_price")),
        sa.ForeignKeyConstraint(
            ["list_id"],
            ["order_lists.id"],
            name=op.f("fk_order_list_items_list_id_order_lists"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_order_list_items_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("list_id", "item_code", name=op.f("pk_order_list_items")),
    )
    op.create_table(
        "red_packets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("group_id", sa.String(length=64), nullable=False),
        sa.Column(
            "sender_kind",
            sa.Enum(
                "store",
                "distributor",
                "consumer",
                "staff",
                name="sender_kind",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("sender_id", sa.String(length=64), nullable=False),
        sa.Column("total_fen", sa.BigInteger(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "open",
                "finished",
                "expired",
                name="packet_status",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("grabbed_count", sa.Integer(), nullable=False),
        sa.Column("grabbed_fen", sa.BigInteger(), nullable=False),
        sa.Column("refunded_fen", sa.BigInteger(), nullable=False),
        sa.Column("budget_month", sa.String(length=7), nullable=True),
        sa.Column("relay_id", sa.Integer(), nullable=True),
        sa.Column("relay_round", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "0 <= grabbed_count AND grabbed_count <= count",
            name=op.f("ck_red_packets_grabbed_count"),
        ),
        sa.CheckConstraint(
            "0 <= grabbed_fen AND grabbed_fen <= total_fen", name=op.f("ck_red_packets_grabbed_fen")
        ),
        sa.CheckConstraint(
            "count >= 1 AND total_fen >= count", name=op.f("ck_red_packets_amounts")
        ),
        sa.ForeignKeyConstraint(
            ["relay_id"],
            ["red_packet_relays.id"],
            name=op.f("fk_red_packets_relay_id_red_packet_relays"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "group_id"],
            ["groups.tenant_id", "groups.group_id"],
            name="fk_red_packets_group",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_red_packets_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_red_packets")),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("red_packets", schema=None) as batch_op:
        batch_op.create_index(
            "ix_red_packets_group", ["tenant_id", "group_id", "created_at"], unique=False
        )
        batch_op.create_index("ix_red_packets_status", ["status", "expires_at"], unique=False)

    op.create_table(
        "group_buy_members",
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column(
            "member_kind",
            sa.Enum(
                "store",
                "distributor",
                "consumer",
                "staff",
                name="team_member_kind",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("member_id", sa.String(length=64), nullable=False),
        sa.Column("deal_id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("joined_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["deal_id"],
            ["group_buys.id"],
            name=op.f("fk_group_buy_members_deal_id_group_buys"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["team_id"],
            ["group_buy_teams.id"],
            name=op.f("fk_group_buy_members_team_id_group_buy_teams"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_group_buy_members_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "team_id", "member_kind", "member_id", name=op.f("pk_group_buy_members")
        ),
        sa.UniqueConstraint(
            "deal_id",
            "member_kind",
            "member_id",
            name=op.f("uq_group_buy_members_deal_id_member_kind_member_id"),
        ),
    )
    op.create_table(
        "order_lines",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("list_id", sa.Integer(), nullable=False),
        sa.Column(
            "member_kind",
            sa.Enum(
                "store",
                "distributor",
                "consumer",
                "staff",
                name="line_member_kind",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("member_id", sa.String(length=64), nullable=False),
        sa.Column("item_code", sa.String(length=64), nullable=False),
        sa.Column("qty", sa.Integer(), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cutoff_id", sa.Integer(), nullable=True),
        sa.Column("order_id", sa.Integer(), nullable=True),
        sa.CheckConstraint("qty >= 1", name=op.f("ck_order_lines_qty")),
        sa.ForeignKeyConstraint(
            ["cutoff_id"], ["order_cutoffs.id"], name=op.f("fk_order_lines_cutoff_id_order_cutoffs")
        ),
        sa.ForeignKeyConstraint(
            ["list_id", "item_code"],
            ["order_list_items.list_id", "order_list_items.item_code"],
            name=op.f("fk_order_lines_list_id_item_code_order_list_items"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["list_id"],
            ["order_lists.id"],
            name=op.f("fk_order_lines_list_id_order_lists"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["collected_orders.id"],
            name=op.f("fk_order_lines_order_id_collected_orders"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_order_lines_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_lines")),
    )
    with op.batch_alter_table("order_lines", schema=None) as batch_op:
        batch_op.create_index(
            "ix_order_lines_open", ["tenant_id", "cutoff_id", "added_at"], unique=False
        )

    op.create_table(
        "red_packet_shares",
        sa.Column("packet_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("is_best_luck", sa.Boolean(), nullable=False),
        sa.Column(
            "member_kind",
            sa.Enum(
                "store",
                "distributor",
                "consumer",
                "staff",
                name="grabber_kind",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=True,
        ),
        sa.Column("member_id", sa.String(length=64), nullable=True),
        sa.Column("grabbed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("amount_fen >= 1", name=op.f("ck_red_packet_shares_amount")),
        sa.ForeignKeyConstraint(
            ["packet_id"],
            ["red_packets.id"],
            name=op.f("fk_red_packet_shares_packet_id_red_packets"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_red_packet_shares_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("packet_id", "position", name=op.f("pk_red_packet_shares")),
        sa.UniqueConstraint(
            "packet_id",
            "member_kind",
            "member_id",
            name=op.f("uq_red_packet_shares_packet_id_member_kind_member_id"),
        ),
    )


def downgrade() -> None:
    op.drop_table("red_packet_shares")
    with op.batch_alter_table("order_lines", schema=None) as batch_op:
        batch_op.drop_index("ix_order_lines_open")

    op.drop_table("order_lines")
    op.drop_table("group_buy_members")
    with op.batch_alter_table("red_packets", schema=None) as batch_op:
        batch_op.drop_index("ix_red_packets_status")
        batch_op.drop_index("ix_red_packets_group")

    op.drop_table("red_packets")
    op.drop_table("order_list_items")
    op.drop_table("lucky_draw_entries")
    with op.batch_alter_table("group_buy_teams", schema=None) as batch_op:
        batch_op.drop_index("ix_group_buy_teams_open")

    op.drop_table("group_buy_teams")
    with op.batch_alter_table("flash_sale_orders", schema=None) as batch_op:
        batch_op.drop_index("ix_flash_sale_orders_member")

    op.drop_table("flash_sale_orders")
    op.drop_table("flash_sale_buyers")
    with op.batch_alter_table("collected_orders", schema=None) as batch_op:
        batch_op.drop_index("ix_collected_orders_list")

    op.drop_table("collected_orders")
    op.drop_table("red_packet_relays")
    op.drop_table("red_packet_budgets")
    op.drop_table("order_lists")
    op.drop_table("lucky_draws")
    op.drop_table("group_buys")
    op.drop_table("flash_sales")
    op.drop_table("red_packet_rules")
    op.drop_table("order_cutoffs")
    with op.batch_alter_table("activation_events", schema=None) as batch_op:
        batch_op.drop_index("ix_activation_events_pending")

    op.drop_table("activation_events")
