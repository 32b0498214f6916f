"""follow-ups: metrics and comment polls after publishing, sentiment and reply policy

This slot was reserved for the linkedin area, which needed no schema change;
it holds the follow-up schema instead (the file name is kept so the chain of
revisions stays as it is):

* ``followups``: metrics collections and comment polls due after a target is
  published, claimed by the sweep (:mod:`clientnest.followups`);
* ``workspaces.reply_mode``: the workspace's reply policy (off | draft |
  auto_positive);
* ``inbox_comments``: sentiment reasons and time, the AI work lease, and the
  reply's life (due, queued, attempted, sent, error, who asked for it).

Revision ID: 0009
Revises: 0008
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import clientnest.db

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "followups",
        sa.Column("id", _ID, nullable=False),
        sa.Column("workspace_id", _ID, nullable=False),
        sa.Column("target_id", _ID, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("slot", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("due_at", clientnest.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("claimed_at", clientnest.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("done_at", clientnest.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("runs", sa.Integer(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.JSON(), nullable=True),
        sa.Column("created_at", clientnest.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["target_id"], ["post_targets.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("target_id", "kind", "slot"),
    )
    with op.batch_alter_table("followups", schema=None) as batch_op:
        batch_op.create_index("ix_followups_due", ["status", "due_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_followups_target_id"), ["target_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_followups_workspace_id"), ["workspace_id"], unique=False)

    with op.batch_alter_table("workspaces", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reply_mode", sa.String(length=16), nullable=False, server_default="draft"))

    with op.batch_alter_table("inbox_comments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sentiment_reasons", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("scored_at", clientnest.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("ai_next_at", clientnest.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("reply_violations", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("reply_requested_by", _ID, nullable=True))
        batch_op.add_column(sa.Column("reply_due_at", clientnest.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("reply_queued_at", clientnest.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("reply_attempted_at", clientnest.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("reply_attempts", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("reply_external_id", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("replied_at", clientnest.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("reply_error", sa.JSON(), nullable=True))
        batch_op.create_foreign_key("fk_inbox_comments_reply_requested_by", "users",
                                    ["reply_requested_by"], ["id"], ondelete="SET NULL")
        batch_op.create_index("ix_inbox_ws_id", ["workspace_id", "id"], unique=False)
        batch_op.create_index("ix_inbox_unscored", ["sentiment_label", "ai_next_at"], unique=False)
        batch_op.create_index("ix_inbox_reply_due", ["reply_status", "reply_due_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("inbox_comments", schema=None) as batch_op:
        batch_op.drop_index("ix_inbox_reply_due")
        batch_op.drop_index("ix_inbox_unscored")
        batch_op.drop_index("ix_inbox_ws_id")
        batch_op.drop_constraint("fk_inbox_comments_reply_requested_by", type_="foreignkey")
        for name in ("reply_error", "replied_at", "reply_external_id", "reply_attempts", "reply_attempted_at",
                     "reply_queued_at", "reply_due_at", "reply_requested_by", "reply_violations", "ai_next_at",
                     "scored_at", "sentiment_reasons"):
            batch_op.drop_column(name)

    with op.batch_alter_table("workspaces", schema=None) as batch_op:
        batch_op.drop_column("reply_mode")

    with op.batch_alter_table("followups", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_followups_workspace_id"))
        batch_op.drop_index(batch_op.f("ix_followups_target_id"))
        batch_op.drop_index("ix_followups_due")
    op.drop_table("followups")
