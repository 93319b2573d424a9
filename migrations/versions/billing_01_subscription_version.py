"""subscriptions: an optimistic version (forms and the sandbox biller) and the plan's length

Revision ID: billing_01
Revises: reports_01
Create Date: 2026-11-22 16:29:35.177861

"""
from alembic import op
import sqlalchemy as sa

import portal.types  # noqa: F401  (custom column types used by autogenerate)


# revision identifiers, used by Alembic.
revision = "billing_01"
down_revision = "api_01"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('subscriptions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('total_payments', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('version', sa.Integer(), server_default=sa.text('1'), nullable=False))


def downgrade():
    with op.batch_alter_table('subscriptions', schema=None) as batch_op:
        batch_op.drop_column('version')
        batch_op.drop_column('total_payments')
