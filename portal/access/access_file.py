"""Access as code: roles, policies and users read from and written to a JSON or YAML file.

The file describes completely each role and user it lists: a field left out
takes its default (no policies, no roles, default attributes, not staff, no
email), except ``password``, which is only ever set, never cleared. Roles and
users the file does not list are left alone; nothing is deleted. An import
validates the whole file first (every error, with its path), writes in one
transaction, and changes nothing when the database already matches the file,
so importing the same file twice is harmless. The format is described in
``docs/ACCESS.md``.
"""

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from django.contrib.auth import get_user_model, password_validation
from django.contrib.auth.hashers import check_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import models, transaction
from django.db.models import Prefetch
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    SecretStr,
    StrictBool,
    ValidationError,
    model_validator,
)

from .audit import record_access
from .models import Policy, Role, SubjectAttributes
from .policy import CLASSIFICATIONS, Action, ConditionSpec, PolicySpec

__all__ = [
    "AccessFile",
    "AccessFileError",
    "ImportSummary",
    "dump_document",
    "export_document",
    "import_document",
    "load_document",
    "validate_document",
]


class AccessFileError(ValueError):
    """An access file that cannot be imported; ``errors`` holds every "path: message"."""

    def __init__(self, errors: list[str]):
        super().__init__("\n".join(errors))
        self.errors = errors


# -- the format ------------------------------------------------------------


class PolicyEntry(BaseModel):
    """A policy as the file writes it: a ``PolicySpec`` with an optional description."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    effect: Literal["allow", "deny"]
    actions: list[Action] = Field(min_length=1)
    conditions: list[ConditionSpec] = Field(default_factory=list)
    valid_from: AwareDatetime | None = None
    valid_until: AwareDatetime | None = None
    description: str = ""

    @model_validator(mode="after")
    def _check_as_spec(self) -> "PolicyEntry":
        # PolicySpec stays the one definition of a valid policy: whatever rule it
        # gains later applies to files too.
        try:
            PolicySpec(**self.model_dump(exclude={"description"}))
        except ValidationError as exc:
            problems = [
                ".".join(map(str, error["loc"])) + ": " + _message(error) if error["loc"] else _message(error)
                for error in exc.errors(include_url=False)
            ]
            raise ValueError("; ".join(problems)) from None
        return self

    def stored(self) -> dict[str, Any]:
        """The policy as ``Policy`` fields, comparable with ``_stored_policy``."""
        return {**self.model_dump(exclude={"conditions"}), "conditions": [c.model_dump() for c in self.conditions]}


class RoleEntry(BaseModel):
    """A role and its policies (the complete list, in order)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    description: str = ""
    policies: list[PolicyEntry] = Field(default_factory=list)


class AttributesEntry(BaseModel):
    """A user's subject attributes; omitted ones take the model's defaults."""

    model_config = ConfigDict(extra="forbid")

    tenants: list[str] = Field(default_factory=list)
    clearance: Literal[CLASSIFICATIONS] = "public"
    departments: list[str] = Field(default_factory=list)
    pii: StrictBool = False
    extra: dict[str, JsonValue] = Field(default_factory=dict)


class UserEntry(BaseModel):
    """A user: email, staff flag, roles (exactly these), attributes, optional password."""

    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=1)
    email: str = ""
    password: SecretStr | None = None
    roles: list[str] = Field(default_factory=list)
    attributes: AttributesEntry = Field(default_factory=AttributesEntry)
    is_staff: StrictBool = False


class AccessFile(BaseModel):
    """A whole access file."""

    model_config = ConfigDict(extra="forbid")

    roles: list[RoleEntry] = Field(default_factory=list)
    users: list[UserEntry] = Field(default_factory=list)


class _Outline(BaseModel):
    """The top level only, so that each entry is checked (and reported) on its own."""

    model_config = ConfigDict(extra="forbid")

    roles: list[dict[str, Any]] = Field(default_factory=list)
    users: list[dict[str, Any]] = Field(default_factory=list)


_DEFAULT_ATTRIBUTES = AttributesEntry().model_dump()


# -- reading and writing text ----------------------------------------------


def load_document(text: str, *, filename: str) -> dict:
    """Parse ``text`` as JSON or YAML (by ``filename``'s extension, else JSON then YAML).

    Raises ``AccessFileError`` when the text does not parse or is not a mapping.
    """
    suffix = Path(filename).suffix.lower()
    if suffix == ".json":
        parsers = [_parse_json]
    elif suffix in (".yaml", ".yml"):
        parsers = [_parse_yaml]
    else:
        parsers = [_parse_json, _parse_yaml]
    for parse in parsers:
        try:
            data = parse(text)
            break
        except ValueError as exc:
            problem = exc
    else:
        raise AccessFileError([f"{filename}: {problem}"])
    if not isinstance(data, dict):
        raise AccessFileError([f"{filename}: the document must be a mapping with the keys 'roles' and 'users'"])
    return data


def dump_document(data: dict, *, format: Literal["json", "yaml"]) -> str:
    """``data`` (as ``export_document`` returns it) as JSON or YAML text."""
    if format == "yaml":
        return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, default_flow_style=False)
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def _parse_json(text: str) -> Any:
    def unique_keys(pairs):
        keys = [key for key, _ in pairs]
        for key in keys:
            if keys.count(key) > 1:
                # json.loads would silently keep the last one.
                raise ValueError(f"invalid JSON: duplicate key {key!r}")
        return dict(pairs)

    try:
        return json.loads(text, object_pairs_hook=unique_keys)
    except json.JSONDecodeError as exc:
        raise ValueError(f"invalid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})") from None


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing a key that appears twice in one mapping."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if not isinstance(key, str):
                continue  # unhashable keys are left to the base class to refuse
            if key in seen:
                mark = key_node.start_mark
                position = f"line {mark.line + 1}, column {mark.column + 1}"
                raise ValueError(f"invalid YAML: duplicate key {key!r} ({position})")
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _parse_yaml(text: str) -> Any:
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader: no arbitrary objects
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        position = f" (line {where.line + 1}, column {where.column + 1})" if where else ""
        raise ValueError(f"invalid YAML: {problem}{position}") from None


# -- validation ------------------------------------------------------------


def validate_document(data: Any) -> list[str]:
    """Every error in ``data`` as "path: message"; an empty list when it can be imported.

    Besides the shape, this checks names against Django's field validators,
    duplicates, role references (in the file or the database) and new
    passwords against ``AUTH_PASSWORD_VALIDATORS``.
    """
    return _check(data)[1]


def _check(data: Any) -> tuple[AccessFile | None, list[str]]:
    """The parsed file and no errors, or ``None`` and every error."""
    try:
        outline = _Outline.model_validate(data)
    except ValidationError as exc:
        return None, _format_errors(exc)

    # Names, references and passwords are checked on the raw entries wherever
    # their type is right, so that one malformed field does not hide the others.
    names_in_file = {raw["name"] for raw in outline.roles if isinstance(raw.get("name"), str)}
    referenced = {name for raw in outline.users for name in _strings(raw.get("roles"))}
    known_roles = names_in_file | set(Role.objects.filter(name__in=referenced).values_list("name", flat=True))

    errors: list[str] = []
    roles, first_role = [], {}
    for i, raw in enumerate(outline.roles):
        roles.append(_entry(RoleEntry, raw, ("roles", i), errors))
        if isinstance(name := raw.get("name"), str) and name:
            if name in first_role:
                errors.append(f"roles[{i}].name: duplicate role {name!r} (first at roles[{first_role[name]}])")
            first_role.setdefault(name, i)
            errors += _field_errors(Role, "name", name, f"roles[{i}].name")
        for j, policy in enumerate(_list(raw.get("policies"))):
            if isinstance(policy, dict) and isinstance(description := policy.get("description"), str):
                errors += _field_errors(Policy, "description", description, f"roles[{i}].policies[{j}].description")

    User = get_user_model()
    users, first_user = [], {}
    for i, raw in enumerate(outline.users):
        users.append(_entry(UserEntry, raw, ("users", i), errors))
        username, email = raw.get("username"), raw.get("email")
        if isinstance(username, str) and username:
            if username in first_user:
                first = first_user[username]
                errors.append(f"users[{i}].username: duplicate user {username!r} (first at users[{first}])")
            first_user.setdefault(username, i)
            errors += _field_errors(User, "username", username, f"users[{i}].username")
        if isinstance(email, str) and email:
            errors += _field_errors(User, "email", email, f"users[{i}].email")
        listed: set[str] = set()
        for k, name in enumerate(_list(raw.get("roles"))):
            if not isinstance(name, str):
                continue  # reported by the schema
            if name in listed:
                errors.append(f"users[{i}].roles[{k}]: role {name!r} is listed twice")
            elif name not in known_roles:
                errors.append(f"users[{i}].roles[{k}]: unknown role {name!r} (not in this file nor the database)")
            listed.add(name)
        password = raw.get("password")
        if isinstance(password, str) and isinstance(username, str):
            email = email if isinstance(email, str) else ""
            errors += _password_errors(username=username, email=email, password=password, path=f"users[{i}].password")

    if errors:
        return None, errors
    return AccessFile(roles=roles, users=users), []


def _list(value: Any) -> list:
    return value if isinstance(value, list) else []


def _strings(value: Any) -> list[str]:
    return [item for item in _list(value) if isinstance(item, str)]


def _entry(model: type[BaseModel], raw: dict, loc: tuple, errors: list[str]):
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        errors += _format_errors(exc, prefix=loc)
        return None


def _field_errors(model: type[models.Model], name: str, value: str, path: str) -> list[str]:
    """The messages of the Django model field's own validators (length, username charset, email)."""
    try:
        model._meta.get_field(name).run_validators(value)
    except DjangoValidationError as exc:
        return [f"{path}: {message}" for message in exc.messages]
    return []


def _password_errors(*, username: str, email: str, password: str, path: str) -> list[str]:
    """``AUTH_PASSWORD_VALIDATORS`` failures for a password the import would set."""
    user = get_user_model().objects.filter(username=username).first()
    # hashers.check_password, not user.check_password: the latter may re-hash
    # and save, a write that validation and dry runs must not make.
    if user is not None and check_password(password, user.password):
        return []  # unchanged: not re-judged by validators added since it was set
    if user is None:
        user = get_user_model()(username=username)
    user.email = email  # judged against the user as the file leaves it (never saved here)
    try:
        password_validation.validate_password(password, user=user)
    except DjangoValidationError as exc:
        return [f"{path}: {message}" for message in exc.messages]
    return []


# Pydantic names the branch of ``str | list[str]`` (a condition's value) in error locations.
_UNION_BRANCHES = ("str", "list[str]")
_FIELD_MESSAGE = re.compile(r"^([a-z_]+): (.+)$", re.DOTALL)


def _format_errors(exc: ValidationError, *, prefix: tuple = ()) -> list[str]:
    """Pydantic's errors as "path: message" lines, one per problem, in document order."""
    slots: list[str | tuple] = []  # a line, or the location of a union's errors
    unions: dict[tuple, list[tuple[tuple, dict]]] = {}
    for error in exc.errors(include_url=False):
        loc = prefix + tuple(error["loc"])
        branch = next((i for i in range(1, len(loc)) if loc[i] in _UNION_BRANCHES and loc[i - 1] == "value"), None)
        if branch is None:
            slots.append(_line(loc, error))
            continue
        if loc[:branch] not in unions:
            slots.append(loc[:branch])
        unions.setdefault(loc[:branch], []).append((loc[:branch] + loc[branch + 1 :], error))
    lines = []
    for slot in slots:
        if isinstance(slot, str):
            lines.append(slot)
            continue
        # An error inside a list names the branch the file meant; otherwise
        # neither branch fits and one line says what would.
        deeper = [(inner, error) for inner, error in unions[slot] if len(inner) > len(slot)]
        if deeper:
            lines += [_line(inner, error) for inner, error in deeper]
        else:
            lines.append(f"{_path(slot)}: Input should be a string or a list of strings")
    return lines


def _line(loc: tuple, error: dict) -> str:
    message = _message(error)
    field_message = _FIELD_MESSAGE.match(message) if error["type"] == "value_error" else None
    if field_message:
        # PolicySpec and ConditionSpec start their messages with the field at fault.
        name, message = field_message.groups()
        if loc[-1:] != (name,):
            loc += (name,)
    return f"{_path(loc)}: {message}"


def _message(error: dict) -> str:
    return error["msg"].removeprefix("Value error, ")


def _path(loc: tuple) -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else f".{part}" if path else str(part)
    return path or "document"


# -- import ----------------------------------------------------------------


@dataclass
class ImportSummary:
    """What an import changed: names created, names updated with the fields that changed."""

    roles_created: list[str] = field(default_factory=list)
    roles_updated: dict[str, list[str]] = field(default_factory=dict)
    roles_unchanged: list[str] = field(default_factory=list)
    users_created: list[str] = field(default_factory=list)
    users_updated: dict[str, list[str]] = field(default_factory=dict)
    users_unchanged: list[str] = field(default_factory=list)
    dry_run: bool = False

    @property
    def changed(self) -> bool:
        return bool(self.roles_created or self.roles_updated or self.users_created or self.users_updated)

    def details(self) -> dict[str, Any]:
        """The changes, for the access audit (never a password, only that one was set)."""
        return {
            "roles_created": self.roles_created,
            "roles_updated": self.roles_updated,
            "users_created": self.users_created,
            "users_updated": self.users_updated,
        }

    def __str__(self) -> str:
        return (
            f"roles: {len(self.roles_created)} created, {len(self.roles_updated)} updated, "
            f"{len(self.roles_unchanged)} unchanged; "
            f"users: {len(self.users_created)} created, {len(self.users_updated)} updated, "
            f"{len(self.users_unchanged)} unchanged"
        )


def import_document(
    data: Any, *, actor: str, dry_run: bool = False, source: str = "", allow_superusers: bool = False
) -> ImportSummary:
    """Bring roles and users in line with ``data``; return what changed.

    Validates first and raises ``AccessFileError`` with every error, writing
    nothing. All writes happen in one transaction, together with one
    ``AccessChanged`` audit event by ``actor`` when anything changed. With
    ``dry_run`` the summary is computed and everything is rolled back.
    """
    with transaction.atomic():
        # Checked inside the transaction: the roles it found are the ones written to.
        document, errors = _check(data)
        if not errors and not allow_superusers:
            errors = _superuser_entries(document)
        if errors:
            raise AccessFileError(errors)
        summary = ImportSummary(dry_run=dry_run)
        for entry in document.roles:
            _import_role(entry, summary)
        roles = {role.name: role for role in Role.objects.filter(name__in={n for u in document.users for n in u.roles})}
        for entry in document.users:
            _import_user(entry, roles, summary)
        if dry_run:
            transaction.set_rollback(True)
        elif summary.changed:
            details = summary.details() | ({"source": source} if source else {})
            record_access("AccessChanged", actor=f"command:{actor}", actor_type="system", details=details)
    return summary


def _superuser_entries(document) -> list[str]:
    # A file could otherwise reset a superuser's password or demote them.
    names = [u.username for u in document.users]
    supers = set(get_user_model().objects.filter(username__in=names, is_superuser=True)
                 .values_list("username", flat=True))
    return [
        f"users[{i}]: {name!r} is a superuser; superusers change only with --allow-superusers"
        for i, name in enumerate(names) if name in supers
    ]


def _import_role(entry: RoleEntry, summary: ImportSummary) -> None:
    role = Role.objects.filter(name=entry.name).first()
    created = role is None
    changes = []
    if created:
        role = Role.objects.create(name=entry.name, description=entry.description)
    elif role.description != entry.description:
        role.description = entry.description
        role.save(update_fields=["description"])
        changes.append("description")
    wanted = [policy.stored() for policy in entry.policies]
    current = [_stored_policy(policy) for policy in role.policies.order_by("pk")]
    if wanted != current:
        # Replaced as a whole: the order (and so each policy's label) follows the file.
        role.policies.all().delete()
        Policy.objects.bulk_create([Policy(role=role, **fields) for fields in wanted])
        changes.append("policies")
    _tally(entry.name, created, changes, summary.roles_created, summary.roles_updated, summary.roles_unchanged)


def _import_user(entry: UserEntry, roles: dict[str, Role], summary: ImportSummary) -> None:
    User = get_user_model()
    user = User.objects.filter(username=entry.username).first()
    created = user is None
    changes = []
    if created:
        user = User(username=entry.username, email=entry.email, is_staff=entry.is_staff)
        if entry.password is None:
            user.set_unusable_password()  # signs in only once an admin or a later import sets one
        else:
            user.set_password(entry.password.get_secret_value())
        user.save()
    else:
        for name in ("email", "is_staff"):
            if getattr(user, name) != getattr(entry, name):
                setattr(user, name, getattr(entry, name))
                changes.append(name)
        if entry.password is not None and not check_password(entry.password.get_secret_value(), user.password):
            user.set_password(entry.password.get_secret_value())
            changes.append("password")
        if changes:
            user.save(update_fields=changes)  # the changes are named after the fields

    wanted = entry.attributes.model_dump()
    row = SubjectAttributes.objects.filter(user=user).first()
    # No row and default attributes mean the same subject: no row is created for them.
    if _attributes_of(row) != wanted:
        row = row or SubjectAttributes(user=user)
        for name, value in wanted.items():
            setattr(row, name, value)
        row.save()
        changes.append("attributes")

    current_roles = set(user.access_roles.values_list("name", flat=True))
    if current_roles != set(entry.roles):
        user.access_roles.set([roles[name] for name in entry.roles])
        changes.append("roles")
    _tally(entry.username, created, changes, summary.users_created, summary.users_updated, summary.users_unchanged)


def _tally(name: str, created: bool, changes: list[str], created_list, updated, unchanged) -> None:
    if created:
        created_list.append(name)
    elif changes:
        updated[name] = changes
    else:
        unchanged.append(name)


def _stored_policy(policy: Policy) -> dict[str, Any]:
    return {
        "effect": policy.effect,
        "actions": policy.actions,
        "valid_from": policy.valid_from,
        "valid_until": policy.valid_until,
        "description": policy.description,
        "conditions": policy.conditions or [],
    }


def _attributes_of(row: SubjectAttributes | None) -> dict[str, Any]:
    if row is None:
        return dict(_DEFAULT_ATTRIBUTES)
    return {name: getattr(row, name) for name in _DEFAULT_ATTRIBUTES}


# -- export ----------------------------------------------------------------


def export_document() -> dict:
    """Every role, and every active user with access to describe, in the import format.

    Roles are sorted by name (policies in their stored order), users by
    username. A user is written when staff, holding a role, or having
    attributes other than the defaults; inactive users are not written (the
    format has no ``is_active``, and importing them elsewhere would enable
    them). Passwords are never written.
    """
    roles = Role.objects.order_by("name").prefetch_related(Prefetch("policies", queryset=Policy.objects.order_by("pk")))
    users = (
        get_user_model()
        .objects.filter(is_active=True)
        .order_by("username")
        .prefetch_related(Prefetch("access_roles", queryset=Role.objects.order_by("name")))
    )
    attributes = {row.user_id: row for row in SubjectAttributes.objects.all()}
    exported_users = []
    for user in users:
        user_roles = [role.name for role in user.access_roles.all()]
        user_attributes = _attributes_of(attributes.get(user.pk))
        if not (user.is_staff or user_roles or user_attributes != _DEFAULT_ATTRIBUTES):
            continue
        exported_users.append(
            {
                "username": user.get_username(),
                "email": user.email,
                "is_staff": user.is_staff,
                "roles": user_roles,
                "attributes": user_attributes,
            }
        )
    return {
        "roles": [
            {
                "name": role.name,
                "description": role.description,
                "policies": [_exported_policy(policy) for policy in role.policies.all()],
            }
            for role in roles
        ],
        "users": exported_users,
    }


def _exported_policy(policy: Policy) -> dict[str, Any]:
    stored = _stored_policy(policy)
    return {
        "description": stored["description"],
        "effect": stored["effect"],
        "actions": stored["actions"],
        "conditions": stored["conditions"],
        "valid_from": stored["valid_from"].isoformat() if stored["valid_from"] else None,
        "valid_until": stored["valid_until"].isoformat() if stored["valid_until"] else None,
    }
