"""Tables of the embedded event store, publisher keys and projections."""

import hashlib
import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone

__all__ = [
    "AggregateHead",
    "BearerSecret",
    "AggregateState",
    "ProjectionCheckpoint",
    "PublisherKey",
    "StoredEvent",
]


class StoredEvent(models.Model):
    """One audit event. Append-only: database triggers refuse UPDATE and DELETE.

    ``record`` is the canonical JSON (RFC 8785) of the event without its hash,
    exactly the bytes that were hashed; the other columns are copies of its
    fields for indexing.
    """

    position = models.BigAutoField(primary_key=True)
    event_id = models.UUIDField(unique=True)
    tenant = models.CharField(max_length=64)
    aggregate_type = models.CharField(max_length=64)
    aggregate_id = models.CharField(max_length=200)
    sequence = models.PositiveBigIntegerField()
    event_type = models.CharField(max_length=100)
    occurred_at = models.DateTimeField()
    recorded_at = models.DateTimeField()
    actor_id = models.CharField(max_length=200)
    actor_type = models.CharField(max_length=16)
    classification = models.CharField(max_length=16)
    trace_id = models.CharField(max_length=128, null=True, blank=True)
    record = models.TextField()
    hash = models.CharField(max_length=64)

    class Meta:
        db_table = "audit_event"
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "aggregate_type", "aggregate_id", "sequence"],
                name="audit_event_stream_sequence",
            )
        ]
        indexes = [
            models.Index(fields=["tenant", "occurred_at"], name="audit_event_tenant_occ"),
        ]
        verbose_name = "audit event"

    def __str__(self):
        return f"{self.tenant}/{self.aggregate_type}/{self.aggregate_id}#{self.sequence}"


class AggregateHead(models.Model):
    """The last sequence and hash of each aggregate, kept in the append's transaction.

    It makes appends fast (one lookup per batch) and lets verification notice
    events deleted from the end of a chain.
    """

    stream_key = models.CharField(max_length=330, unique=True)
    tenant = models.CharField(max_length=64)
    aggregate_type = models.CharField(max_length=64)
    aggregate_id = models.CharField(max_length=200)
    last_sequence = models.PositiveBigIntegerField()
    last_hash = models.CharField(max_length=64)

    class Meta:
        db_table = "audit_aggregate_head"
        indexes = [models.Index(fields=["tenant"], name="audit_head_tenant")]


class BearerSecret(models.Model):
    """A bearer credential of which only a SHA-256 of the secret is kept.

    Secrets carry 256 random bits, so a slow password hash would add latency
    to every request and no safety. A secret reads ``<PREFIX>_<key_id>_<random>``:
    the key id finds the row, the digest comparison (constant time) proves it.
    """

    PREFIX = ""

    key_id = models.CharField(max_length=16, unique=True, editable=False)
    secret_hash = models.CharField(max_length=64, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    def issue_secret(self) -> str:
        """Give the credential a new secret and return it; only its hash is stored."""
        self.key_id = secrets.token_hex(6)
        secret = f"{self.PREFIX}_{self.key_id}_{secrets.token_urlsafe(32)}"
        self.secret_hash = hashlib.sha256(secret.encode()).hexdigest()
        return secret

    def matches(self, secret: str) -> bool:
        digest = hashlib.sha256(secret.encode()).hexdigest()
        return secrets.compare_digest(digest, self.secret_hash)

    @classmethod
    def authenticate(cls, secret: str):
        """The active credential whose secret this is, or ``None``."""
        parts = secret.split("_", 2)
        if len(parts) != 3 or parts[0] != cls.PREFIX:
            return None
        found = cls.objects.filter(key_id=parts[1], revoked_at__isnull=True).first()
        if found is None or not found.matches(secret):
            return None
        now = timezone.now()
        # One write a minute at most: the timestamp is for people, not for auditing.
        if found.last_used_at is None or (now - found.last_used_at).total_seconds() > 60:
            type(found).objects.filter(pk=found.pk).update(last_used_at=now)
        return found


class PublisherKey(BearerSecret):
    """A bearer key with which an application publishes events for its tenants."""

    PREFIX = "ak"

    name = models.CharField(max_length=100, unique=True)
    tenants = models.JSONField(default=list, help_text="Tenants this key may write and read.")

    class Meta:
        db_table = "audit_publisher_key"

    def __str__(self):
        return self.name


class ProjectionCheckpoint(models.Model):
    """How far along the change feed a projection has got."""

    name = models.CharField(max_length=100, unique=True)
    position = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "audit_projection_checkpoint"

    def __str__(self):
        return f"{self.name} @ {self.position}"


class FailedProjection(models.Model):
    """An event a projection could not apply (the embedded projector), or one held back behind
    such an event of its aggregate so that the aggregate is never applied out of order.

    The projector moves on past it (other aggregates are not blocked) but never silently:
    it stays here until a retry applies it (``resolved_at``).
    """

    projection = models.CharField(max_length=100)
    position = models.BigIntegerField()
    event_id = models.CharField(max_length=36)
    tenant = models.CharField(max_length=64)
    aggregate_type = models.CharField(max_length=128)
    aggregate_id = models.CharField(max_length=256)
    sequence = models.BigIntegerField()
    #: the exception (type and message); for a held event, which failure it waits behind
    error = models.TextField()
    #: tries that raised (0 for an event held behind an earlier failure)
    attempts = models.PositiveIntegerField(default=0)
    first_failed_at = models.DateTimeField(auto_now_add=True)
    last_failed_at = models.DateTimeField(auto_now=True)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "audit_failed_projection"
        constraints = [models.UniqueConstraint(fields=["projection", "position"], name="failed_projection_once")]
        indexes = [models.Index(fields=["projection", "resolved_at", "position"], name="failed_projection_open")]

    def __str__(self):
        return f"{self.projection} @ {self.position} ({self.tenant}/{self.aggregate_type}/{self.aggregate_id} #{self.sequence})"


class AlertRule(models.Model):
    """A suspicious-pattern rule (``audit_events.alerts.rules``), per tenant or for all of them."""

    SEVERITIES = [("low", "low"), ("medium", "medium"), ("high", "high"), ("critical", "critical")]

    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    #: empty: every tenant
    tenant = models.CharField(max_length=64, blank=True)
    spec = models.JSONField(help_text="The rule, as JSON: its kind and settings (see the documentation).")
    severity = models.CharField(max_length=8, choices=SEVERITIES, default="medium")
    enabled = models.BooleanField(default=True)
    #: shipped with the portal (admins may disable or tune it, not lose it by accident)
    builtin = models.BooleanField(default=False, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "audit_alert_rule"
        ordering = ["name"]

    def __str__(self):
        return self.name

    def clean(self):
        from django.core.exceptions import ValidationError
        from pydantic import ValidationError as SpecError

        from .alerts.rules import parse_rule_spec
        from .schemas import validation_messages

        try:
            self.spec = parse_rule_spec(self.spec).model_dump(mode="json")
        except SpecError as error:
            raise ValidationError({"spec": validation_messages(error, "spec")}) from None

    @property
    def parsed(self):
        from .alerts.rules import parse_rule_spec

        return parse_rule_spec(self.spec)


class Alert(models.Model):
    """What a rule found: its key (e.g. an aggregate or an IP), its window of event time and
    the evidence events. One per rule, key and window: a redelivered event raises nothing new."""

    STATES = [("open", "open"), ("acknowledged", "acknowledged"), ("resolved", "resolved")]
    #: evidence events kept per alert (``event_count`` counts them all)
    EVIDENCE_LIMIT = 100

    rule = models.ForeignKey(AlertRule, on_delete=models.PROTECT, related_name="alerts")
    severity = models.CharField(max_length=8, choices=AlertRule.SEVERITIES)
    tenant = models.CharField(max_length=64)
    #: what the rule grouped by (``aggregate:acme/Account/acc-1``, ``actor_ip:acme/203.0.113.9``…);
    #: an aggregate key is at most 10 + 64 + 1 + 64 + 1 + 200 characters
    group_key = models.CharField(max_length=400)
    window_start = models.DateTimeField()
    window_end = models.DateTimeField()
    #: the events that made it: ids, their aggregates and sequences (their timelines link from them)
    evidence = models.JSONField(default=list)
    #: every matching event found in the window (the evidence keeps the first EVIDENCE_LIMIT)
    event_count = models.PositiveIntegerField(default=0)
    summary = models.CharField(max_length=300)
    status = models.CharField(max_length=12, choices=STATES, default="open")
    raised_at = models.DateTimeField(auto_now_add=True)
    acknowledged_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolution = models.TextField(blank=True)

    class Meta:
        db_table = "audit_alert"
        ordering = ["-raised_at"]
        constraints = [models.UniqueConstraint(fields=["rule", "group_key", "window_start"], name="alert_once_per_window")]
        indexes = [models.Index(fields=["status", "tenant"], name="alert_inbox")]

    def __str__(self):
        return f"{self.rule.name}: {self.summary}"


class AlertWindowState(models.Model):
    """A rule's recent matching events for one key (the embedded ``sql`` alert state): bounded
    by the rule's window plus the allowed lateness, and by a number of events."""

    rule = models.ForeignKey(AlertRule, on_delete=models.CASCADE, related_name="+")
    group_key = models.CharField(max_length=400)
    state = models.JSONField(default=dict)
    #: counts saves: a writer saves only over the version it loaded
    version = models.PositiveIntegerField(default=0)
    #: after this the state says nothing a new event could use (what DynamoDB's TTL reads)
    expires_at = models.DateTimeField()

    class Meta:
        db_table = "audit_alert_window_state"
        constraints = [models.UniqueConstraint(fields=["rule", "group_key"], name="alert_state_per_key")]
        indexes = [models.Index(fields=["expires_at"], name="alert_state_expiry")]

    def __str__(self):
        return f"{self.rule_id}: {self.group_key}"


class StreamCheckpoint(models.Model):
    """How far the local stream poller has read a DynamoDB stream shard (``AUDIT_STORE=dynamodb``;
    on Lambda the event source mapping keeps this itself)."""

    shard_id = models.CharField(max_length=100, unique=True)
    #: the last record handled: decimal digits, longer than a 64-bit integer holds
    sequence_number = models.CharField(max_length=40)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "audit_stream_checkpoint"

    def __str__(self):
        return f"{self.shard_id} @ {self.sequence_number}"


class AggregateState(models.Model):
    """Latest state of each aggregate: the merge of its payloads (a projection)."""

    tenant = models.CharField(max_length=64)
    aggregate_type = models.CharField(max_length=64)
    aggregate_id = models.CharField(max_length=200)
    state = models.JSONField(default=dict)
    sequence = models.PositiveBigIntegerField()
    last_event_id = models.UUIDField()
    last_occurred_at = models.DateTimeField()

    class Meta:
        db_table = "audit_aggregate_state"
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "aggregate_type", "aggregate_id"],
                name="audit_state_aggregate",
            )
        ]

    def __str__(self):
        return f"{self.tenant}/{self.aggregate_type}/{self.aggregate_id}"


class SearchDocument(models.Model):
    """What the SQL search backend indexes for one event (a projection).

    ``text`` holds the searchable words that are not personal data; ``pii_text``
    the values at the event's ``pii`` pointers, searchable only by readers who
    may see them. The full-text indexes over both are built by the database
    (an FTS5 table on SQLite, ``tsvector`` columns on PostgreSQL).
    """

    position = models.BigIntegerField(primary_key=True)  # the event's change-feed position
    event_id = models.UUIDField(unique=True)
    tenant = models.CharField(max_length=64)
    aggregate_type = models.CharField(max_length=64)
    aggregate_id = models.CharField(max_length=200)
    event_type = models.CharField(max_length=100)
    actor_id = models.CharField(max_length=200)
    actor_type = models.CharField(max_length=16)
    ip = models.CharField(max_length=45, null=True, blank=True)
    # 32 hex digits of the IPv6 (or IPv4-mapped) address: CIDR becomes a range.
    ip_hex = models.CharField(max_length=32, null=True, blank=True)
    classification = models.CharField(max_length=16)
    trace_id = models.CharField(max_length=128, null=True, blank=True)
    occurred_at = models.DateTimeField()
    recorded_at = models.DateTimeField()
    text = models.TextField(blank=True)
    pii_text = models.TextField(blank=True)

    class Meta:
        db_table = "audit_search_document"
        indexes = [
            models.Index(fields=["tenant", "position"], name="search_tenant_pos"),
            models.Index(fields=["occurred_at"], name="search_occurred"),
            models.Index(fields=["actor_id", "position"], name="search_actor"),
            models.Index(fields=["ip_hex"], name="search_ip"),
            models.Index(fields=["trace_id"], name="search_trace"),
            models.Index(fields=["event_type", "position"], name="search_type"),
        ]


class AggregateSnapshot(models.Model):
    """An aggregate's full (unmasked, upcast) state after ``sequence``: a cache for replay.

    ``last_hash`` is the hash of the event at ``sequence``; replay uses a
    snapshot only when that still matches the chain and ``reducer_version`` is
    current, so snapshots can be dropped and rebuilt at any time.
    """

    tenant = models.CharField(max_length=64)
    aggregate_type = models.CharField(max_length=64)
    aggregate_id = models.CharField(max_length=200)
    sequence = models.PositiveBigIntegerField()
    last_hash = models.CharField(max_length=64)
    state = models.JSONField(default=dict)
    deleted = models.BooleanField(default=False)
    #: the same fold over the records with personal data masked: ``{"state", "deleted"}``,
    #: for readers who may see every event but none of its personal data
    masked = models.JSONField(default=dict)
    #: whether events 1..sequence occurred in the order they were recorded, and the latest
    #: ``occurred_at`` among them: business-time replay may then start here
    occurred_in_order = models.BooleanField(default=False)
    occurred_max = models.CharField(max_length=40, default="")
    reducer_version = models.PositiveIntegerField()
    #: HMAC (SECRET_KEY) over the aggregate, sequence, hash, both states, the occurred order,
    #: reducer and upcaster versions
    digest = models.CharField(max_length=64, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "audit_aggregate_snapshot"
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "aggregate_type", "aggregate_id", "sequence"], name="audit_snapshot_at"
            )
        ]


class ChainVerification(models.Model):
    """The outcome of one ``verify_chain`` run for one tenant; the dashboard shows the newest."""

    tenant = models.CharField(max_length=64)
    verified_at = models.DateTimeField(default=timezone.now)
    events = models.BigIntegerField()
    ok = models.BooleanField()
    #: the first breaks found, as text (the command prints them all)
    breaks = models.JSONField(default=list)

    class Meta:
        indexes = [models.Index(fields=["tenant", "-verified_at"], name="audit_verify_tenant_at")]

    def __str__(self):
        return f"{self.tenant} {'verified' if self.ok else 'BROKEN'} at {self.verified_at:%Y-%m-%d %H:%M}"


class MerkleLog(models.Model):
    """A tenant's Merkle log (RFC 6962): how many leaves it holds (the ``merkle_log`` projection)."""

    tenant = models.CharField(max_length=64, primary_key=True)
    size = models.PositiveBigIntegerField(default=0)

    class Meta:
        db_table = "audit_merkle_log"

    def __str__(self):
        return f"{self.tenant}: {self.size} leaves"


class MerkleNode(models.Model):
    """A complete subtree of a tenant's log: at ``level`` L and ``index`` i, the root of leaves
    [i·2^L, (i+1)·2^L) (level 0: the leaves). Written once, when its last leaf arrives, so any
    tree size's root and proofs are computed from O(log n) stored nodes."""

    tenant = models.CharField(max_length=64)
    level = models.PositiveSmallIntegerField()
    index = models.PositiveBigIntegerField()
    hash = models.CharField(max_length=64)

    class Meta:
        db_table = "audit_merkle_node"
        constraints = [models.UniqueConstraint(fields=["tenant", "level", "index"], name="merkle_node_once")]

    def __str__(self):
        return f"{self.tenant} L{self.level}#{self.index}"


class MerkleLeaf(models.Model):
    """Where an event sits in its tenant's log (and which event of its aggregate it is: an
    event joins the log only after the one before it in its aggregate)."""

    event_id = models.UUIDField(primary_key=True)
    tenant = models.CharField(max_length=64)
    leaf_index = models.PositiveBigIntegerField()
    #: the event's change-feed position (the order differs from the leaves' on a stream)
    position = models.BigIntegerField()
    aggregate_type = models.CharField(max_length=64)
    aggregate_id = models.CharField(max_length=200)
    sequence = models.PositiveBigIntegerField()

    class Meta:
        db_table = "audit_merkle_leaf"
        constraints = [
            models.UniqueConstraint(fields=["tenant", "leaf_index"], name="merkle_leaf_index"),
            models.UniqueConstraint(fields=["tenant", "aggregate_type", "aggregate_id", "sequence"],
                                    name="merkle_leaf_event"),
        ]

    def __str__(self):
        return f"{self.tenant} leaf {self.leaf_index}"


class SigningKey(models.Model):
    """A public key that signed checkpoints; kept after rotation so old checkpoints verify."""

    key_id = models.CharField(max_length=64, primary_key=True)
    algorithm = models.CharField(max_length=16, default="ed25519")
    #: the raw 32-byte Ed25519 public key, base64
    public_key = models.CharField(max_length=64)
    #: where the private key lives: ``local`` (a key file) or ``kms`` (the key's ARN)
    source = models.CharField(max_length=300)
    created_at = models.DateTimeField(auto_now_add=True)
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "audit_signing_key"
        ordering = ["created_at"]

    def __str__(self):
        return self.key_id


class Checkpoint(models.Model):
    """A signed statement of a tenant's log: its size and root, chained to the previous one.

    ``document`` is the checkpoint exactly as published (the signature covers the JCS of it
    without ``signature``); the columns repeat its fields for queries."""

    tenant = models.CharField(max_length=64)
    tree_size = models.PositiveBigIntegerField()
    root_hash = models.CharField(max_length=64)
    key_id = models.CharField(max_length=64)
    made_at = models.DateTimeField()
    document = models.JSONField()

    class Meta:
        db_table = "audit_checkpoint"
        ordering = ["tenant", "tree_size"]
        constraints = [models.UniqueConstraint(fields=["tenant", "tree_size"], name="checkpoint_per_size")]

    def __str__(self):
        return f"{self.tenant} @ {self.tree_size}"


class LegalHold(models.Model):
    """A legal hold: while active, personal data under it may not be erased (crypto-shredding
    refuses). On a whole tenant, one aggregate (``TYPE:ID``), or one data subject."""

    SCOPES = [("tenant", "tenant"), ("aggregate", "aggregate"), ("subject", "data subject")]

    tenant = models.CharField(max_length=64)
    scope = models.CharField(max_length=9, choices=SCOPES)
    #: ``TYPE:ID`` for an aggregate; the subject's id for a data subject; empty for a tenant
    target = models.CharField(max_length=300, blank=True)
    reason = models.TextField(help_text="Why the data must be kept: the matter, the request, its reference.")
    #: who answers for the hold (counsel, the compliance officer)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    placed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    placed_at = models.DateTimeField(auto_now_add=True)
    released_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                    related_name="+")
    released_at = models.DateTimeField(null=True, blank=True)
    release_reason = models.TextField(blank=True)

    class Meta:
        db_table = "audit_legal_hold"
        ordering = ["-placed_at"]
        indexes = [models.Index(fields=["tenant", "released_at"], name="legal_hold_active")]

    def __str__(self):
        what = self.tenant if self.scope == "tenant" else f"{self.tenant} {self.scope} {self.target}"
        return f"hold #{self.pk} on {what}"

    @property
    def active(self) -> bool:
        return self.released_at is None


class SubjectKey(models.Model):
    """A data subject's key: their personal data in events is sealed under it, and destroying
    it erases that data everywhere while every hash stays valid (crypto-shredding)."""

    #: what sealed values name (``kid``): random, so it says nothing about the subject
    key_id = models.CharField(max_length=32, primary_key=True)
    tenant = models.CharField(max_length=64)
    #: the event's ``data_subject``, or its aggregate written ``TYPE:ID``
    subject = models.CharField(max_length=300)
    #: the 32-byte key, wrapped by the master key (base64); emptied when the key is destroyed
    wrapped = models.TextField(blank=True)
    #: which master key wrapped it (``local:<id>`` or the KMS key's ARN)
    master_key = models.CharField(max_length=300)
    created_at = models.DateTimeField(auto_now_add=True)
    destroyed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "audit_subject_key"
        constraints = [models.UniqueConstraint(fields=["tenant", "subject"], name="subject_key_once")]

    def __str__(self):
        return f"key {self.key_id} of a {self.tenant} subject"


class ErasureRequest(models.Model):
    """A request to erase a data subject, carried out only when a second admin approves it:
    destroying a key cannot be undone, so no one person does it from the portal alone."""

    PENDING, ERASED, REJECTED = "pending", "erased", "rejected"
    STATUSES = [(PENDING, "waiting for approval"), (ERASED, "erased"), (REJECTED, "rejected")]

    tenant = models.CharField(max_length=64)
    #: the event's ``data_subject``, or an aggregate written ``TYPE:ID``
    subject = models.CharField(max_length=300)
    reason = models.TextField(help_text="Why: the data subject's request and its reference (e.g. Art. 17, R-88). Kept as the record of the erasure: give the reference, not the person's name or other personal data.")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    requested_at = models.DateTimeField(auto_now_add=True)
    status = models.CharField(max_length=8, choices=STATUSES, default=PENDING)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                   related_name="+")
    decided_at = models.DateTimeField(null=True, blank=True)
    #: why a request was rejected
    decision_note = models.TextField(blank=True)
    #: the signed erasure receipt, once erased
    receipt = models.JSONField(null=True, blank=True)

    class Meta:
        db_table = "audit_erasure_request"
        ordering = ["-requested_at"]
        permissions = [("approve_erasurerequest", "Can approve another admin's erasure request")]
        constraints = [models.UniqueConstraint(fields=["tenant", "subject"], condition=models.Q(status="pending"),
                                               name="erasure_request_pending_once")]

    def __str__(self):
        return f"erasure request #{self.pk} in {self.tenant}"
