"""A shop's human users of the agent API: passwords, accounts and their bearer tokens.

No HTTP here. Passwords are hashed with scrypt (``cryptography``; a random 16-byte salt,
``n=2**14, r=8, p=1``) and stored as ``scrypt$n$r$p$<b64 salt>$<b64 hash>``. Tokens are
HS256 JWTs signed with ``settings.derived_key("jwt")`` (never the raw secret key) carrying
``sub`` (user id), ``tid`` (tenant id), ``role``, ``ver`` (the user's ``token_version``),
``iat``, ``exp``, ``iss`` and ``aud``. Changing a password or deactivating a user bumps
``token_version``, which invalidates every token issued before.

Functions flush but never commit: the caller owns the transaction. Nothing here logs a
password, a token or an e-mail address.
"""

from __future__ import annotations

import base64
import hmac
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, get_args

import jwt
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from tendero.db.models import Tenant, User
from tendero.settings import Settings

__all__ = [
    "JWT_AUDIENCE",
    "JWT_ISSUER",
    "MIN_PASSWORD_LENGTH",
    "ROLES",
    "DuplicateEmail",
    "InvalidToken",
    "Role",
    "TokenClaims",
    "UserError",
    "authenticate",
    "create_user",
    "decode_token",
    "get_user",
    "hash_password",
    "issue_token",
    "list_users",
    "normalize_email",
    "update_user",
    "verify_password",
]

Role = Literal["admin", "agent"]
ROLES: tuple[Role, ...] = get_args(Role)
"""Every role: ``admin`` (users, store configuration, everything) and ``agent``."""

MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 1024
JWT_ISSUER = "tendero"
JWT_AUDIENCE = "tendero-agent-api"
JWT_ALGORITHM = "HS256"

_SCRYPT_N = 2**14
_SCRYPT_R = 8
_SCRYPT_P = 1
_SALT_BYTES = 16
_HASH_BYTES = 32
# Bounds on the parameters read back from a stored hash, so a tampered row cannot make a
# login burn unbounded memory or CPU.
_MAX_N = 2**20
_MAX_R = 32
_MAX_P = 16
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s.]{2,}$")
_CLAIMS = ("sub", "tid", "role", "ver", "iat", "exp", "iss", "aud")


class UserError(ValueError):
    """Invalid user data (e-mail, name, role, password); ``field`` names the argument."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        """Keep the argument name next to the message."""
        super().__init__(message)
        self.field = field


class DuplicateEmail(UserError):
    """The tenant already has a user with this e-mail address."""

    def __init__(self) -> None:
        """A fixed message: the address itself is never repeated."""
        super().__init__("a user with this e-mail already exists in this shop", field="email")


class InvalidToken(Exception):
    """A bearer token that is malformed, forged, expired or not for this API."""


@dataclass(frozen=True)
class TokenClaims:
    """The verified claims of an agent API token.

    Attributes:
        user_id: ``sub``.
        tenant_id: ``tid``.
        role: ``admin`` or ``agent`` at issue time (callers re-read the user row).
        version: ``ver``, the user's ``token_version`` at issue time.
        issued_at: ``iat`` (aware UTC).
        expires_at: ``exp`` (aware UTC).
    """

    user_id: uuid.UUID
    tenant_id: uuid.UUID
    role: Role
    version: int
    issued_at: datetime
    expires_at: datetime


# --- passwords ------------------------------------------------------------------------------


def _b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    kdf = Scrypt(salt=salt, length=_HASH_BYTES, n=n, r=r, p=p)
    return kdf.derive(password.encode("utf-8"))


def hash_password(password: str) -> str:
    """Hash ``password`` with scrypt and a fresh random salt.

    Returns:
        ``scrypt$16384$8$1$<base64 salt>$<base64 hash>``.
    """
    salt = secrets.token_bytes(_SALT_BYTES)
    digest = _scrypt(password, salt, _SCRYPT_N, _SCRYPT_R, _SCRYPT_P)
    return f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${_b64encode(salt)}${_b64encode(digest)}"


def verify_password(password: str, stored: str) -> bool:
    """True when ``password`` matches the ``hash_password`` output ``stored``.

    The comparison is constant-time; a malformed ``stored`` value (or one with absurd
    parameters) is a mismatch, never an exception.
    """
    try:
        scheme, n_text, r_text, p_text, salt_b64, hash_b64 = stored.split("$")
        n, r, p = int(n_text), int(r_text), int(p_text)
        salt = base64.b64decode(salt_b64, validate=True)
        expected = base64.b64decode(hash_b64, validate=True)
    except ValueError:
        return False
    if scheme != "scrypt" or not (1 < n <= _MAX_N and 0 < r <= _MAX_R and 0 < p <= _MAX_P):
        return False
    if n & (n - 1) or not salt or len(expected) != _HASH_BYTES:
        return False
    return hmac.compare_digest(_scrypt(password, salt, n, r, p), expected)


# A real hash of a random password: checked when no user matches, so a login for an
# unknown address costs the same scrypt run as one for a known address.
_DUMMY_HASH = hash_password(secrets.token_urlsafe(16))


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(
            f"the password must have at least {MIN_PASSWORD_LENGTH} characters", field="password"
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise UserError(
            f"the password must have at most {MAX_PASSWORD_LENGTH} characters", field="password"
        )


def _check_role(role: str) -> Role:
    for known in ROLES:
        if role == known:
            return known
    raise UserError(f"unknown role {role!r}: use one of {', '.join(ROLES)}", field="role")


def normalize_email(email: str) -> str:
    """``email`` stripped and lower-cased, if it looks like an address.

    Raises:
        UserError: not an e-mail address (or longer than 320 characters).
    """
    value = email.strip().lower()
    if len(value) > 320 or not _EMAIL.match(value):
        raise UserError("not a valid e-mail address", field="email")
    return value


# --- accounts -------------------------------------------------------------------------------


async def create_user(
    session: AsyncSession,
    *,
    tenant_id: uuid.UUID,
    email: str,
    name: str,
    role: str,
    password: str,
) -> User:
    """Create an active user of ``tenant_id``; the caller commits.

    Args:
        session: database session.
        tenant_id: the shop the user belongs to.
        email: the login; stored stripped and lower-cased.
        name: the display name (1-200 characters).
        role: ``admin`` or ``agent``.
        password: at least ``MIN_PASSWORD_LENGTH`` characters; only its hash is stored.

    Returns:
        The flushed row.

    Raises:
        UserError: invalid e-mail, name, role or password.
        DuplicateEmail: the tenant already has a user with this e-mail.
    """
    address = normalize_email(email)
    display = name.strip()
    if not 1 <= len(display) <= 200:
        raise UserError("the name must have 1 to 200 characters", field="name")
    checked_role = _check_role(role)
    _check_password(password)
    taken = await session.scalar(
        select(User.id).where(User.tenant_id == tenant_id, User.email == address)
    )
    if taken is not None:
        raise DuplicateEmail()
    user = User(
        id=uuid.uuid4(),
        tenant_id=tenant_id,
        email=address,
        name=display,
        role=checked_role,
        password_hash=hash_password(password),
        active=True,
        token_version=0,
    )
    try:
        async with session.begin_nested():
            session.add(user)
            await session.flush()
    except IntegrityError:  # a concurrent create with the same address won the race
        raise DuplicateEmail() from None
    return user


async def get_user(session: AsyncSession, tenant_id: uuid.UUID, user_id: uuid.UUID) -> User | None:
    """The tenant's user ``user_id``; ``None`` when missing or another tenant's."""
    user = await session.get(User, user_id)
    if user is None or user.tenant_id != tenant_id:
        return None
    return user


async def list_users(session: AsyncSession, tenant_id: uuid.UUID) -> list[User]:
    """The tenant's users, inactive ones included, by e-mail."""
    rows = await session.scalars(
        select(User).where(User.tenant_id == tenant_id).order_by(User.email, User.id)
    )
    return list(rows)


async def update_user(
    session: AsyncSession,
    user: User,
    *,
    role: str | None = None,
    active: bool | None = None,
    password: str | None = None,
) -> User:
    """Change a user's role, active flag or password; the caller commits.

    A new password or a deactivation bumps ``token_version``, so every token issued
    before is refused. Arguments left ``None`` are kept.

    Raises:
        UserError: unknown role or a password that is too short or too long.
    """
    checked_role = _check_role(role) if role is not None else None
    if password is not None:
        _check_password(password)
    if checked_role is not None:
        user.role = checked_role
    if password is not None:
        user.password_hash = hash_password(password)
        user.token_version += 1
    if active is not None and active != user.active:
        user.active = active
        if not active:
            user.token_version += 1
    await session.flush()
    return user


async def authenticate(
    session: AsyncSession,
    *,
    tenant_slug: str,
    email: str,
    password: str,
    now: datetime | None = None,
) -> User | None:
    """The active user of shop ``tenant_slug`` with this e-mail and password, or ``None``.

    Every failure (unknown shop, unknown address, wrong password, inactive user) gives
    ``None``, and each runs one scrypt verification, so the answer time does not reveal
    which accounts exist. On success ``last_login_at`` is set (flushed, not committed).
    """
    address = email.strip().lower()
    user = await session.scalar(
        select(User)
        .join(Tenant, Tenant.id == User.tenant_id)
        .where(Tenant.slug == tenant_slug, User.email == address)
    )
    if user is None:
        verify_password(password, _DUMMY_HASH)
        return None
    if not verify_password(password, user.password_hash) or not user.active:
        return None
    user.last_login_at = now or datetime.now(UTC)
    await session.flush()
    return user


# --- tokens ---------------------------------------------------------------------------------


def issue_token(user: User, settings: Settings, now: datetime) -> tuple[str, datetime]:
    """Sign a token for ``user`` valid ``settings.tendero_jwt_ttl_s`` seconds from ``now``.

    Returns:
        ``(token, expires_at)``, ``expires_at`` aware UTC, whole seconds.
    """
    issued = now.astimezone(UTC).replace(microsecond=0)
    expires = issued + timedelta(seconds=settings.tendero_jwt_ttl_s)
    claims: dict[str, Any] = {
        "sub": str(user.id),
        "tid": str(user.tenant_id),
        "role": user.role,
        "ver": user.token_version,
        "iat": int(issued.timestamp()),
        "exp": int(expires.timestamp()),
        "iss": JWT_ISSUER,
        "aud": JWT_AUDIENCE,
    }
    token = jwt.encode(claims, settings.derived_key("jwt"), algorithm=JWT_ALGORITHM)
    return token, expires


def decode_token(token: str, settings: Settings) -> TokenClaims:
    """Verify ``token`` (signature, algorithm, issuer, audience, expiry; no leeway).

    Raises:
        InvalidToken: anything wrong: malformed, forged, expired, missing or odd claims.
    """
    try:
        claims = jwt.decode(
            token,
            settings.derived_key("jwt"),
            algorithms=[JWT_ALGORITHM],
            audience=JWT_AUDIENCE,
            issuer=JWT_ISSUER,
            leeway=0,
            options={"require": list(_CLAIMS)},
        )
        role = _check_role(str(claims["role"]))
        version = claims["ver"]
        if not isinstance(version, int) or isinstance(version, bool) or version < 0:
            raise InvalidToken("bad ver claim")
        return TokenClaims(
            user_id=uuid.UUID(str(claims["sub"])),
            tenant_id=uuid.UUID(str(claims["tid"])),
            role=role,
            version=version,
            issued_at=datetime.fromtimestamp(int(claims["iat"]), UTC),
            expires_at=datetime.fromtimestamp(int(claims["exp"]), UTC),
        )
    except InvalidToken:
        raise
    except (jwt.PyJWTError, ValueError, TypeError, KeyError, OverflowError):
        raise InvalidToken("invalid token") from None
