"""The rest of Navixy's notification settings: email_special, sms_originator, caller_id.

`email_from` and `email_footer` already exist (0001, with their lengths). The new
columns get their lengths here too; the originators also get the ASCII part of
Navixy's pattern `(\\p{L}|\\d|[-'" .,:/])*`. Which non-ASCII characters are letters is
left to the application: PostgreSQL's `[[:alpha:]]` depends on the database's
locale (in the C locale it knows ASCII letters only), so a check built on it could
refuse a name the service accepts.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-21
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Every ASCII character is a letter, a digit or one of -'" .,:/ (anything else is not
# ASCII). In a bracket expression `-` comes last, and `'` is doubled for SQL.
_ORIGINATOR = "^([^\\x01-\\x7f]|[A-Za-z0-9'' \".,:/-])*$"


def upgrade() -> None:
    op.add_column("dealers", sa.Column("email_special", sa.Text(), nullable=True))
    op.add_column("dealers", sa.Column("sms_originator", sa.Text(), nullable=True))
    op.add_column("dealers", sa.Column("caller_id", sa.Text(), nullable=True))
    op.create_check_constraint("email_special_length", "dealers",
                               "char_length(email_special) <= 255")
    for column in ("sms_originator", "caller_id"):
        op.create_check_constraint(f"{column}_length", "dealers",
                                   f"char_length({column}) <= 20")
        op.create_check_constraint(f"{column}_characters", "dealers",
                                   f"{column} ~ '{_ORIGINATOR}'")


def downgrade() -> None:
    # Dropping a column drops the checks on it.
    for column in ("caller_id", "sms_originator", "email_special"):
        op.drop_column("dealers", column)
