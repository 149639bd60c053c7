"""Reproducible demo audit events for three fictional tenants.

``generate_events`` simulates a bank, a hospital and an online shop and
yields ingest-API event dicts, oldest first. Everything random comes from one
``random.Random(seed)``, so the same arguments always give the same events,
down to the event ids.

How time works: ``count`` baseline instants are drawn as sorted uniform order
statistics (streamed, so memory does not grow with ``count``) and warped
through an hourly activity curve, which makes business hours and weekdays
busier. Each step either releases the earliest scheduled follow-up (the next
step of a transfer, order or prescription, or the rest of an alert burst) at
its own due time, if that is not after the baseline instant, or starts
something new at the baseline instant. Follow-ups are only ever scheduled
after "now", so ``occurred_at`` never decreases and never passes ``until``;
flows still in flight when the count runs out are cut off, as in any export.

State is small: the long-lived aggregates (accounts, patients, customers) and
the staff, all capped, plus a heap of pending follow-ups. Short-lived flows
(transfers, orders, prescriptions) live only in their heap entries.

Personal data is fictional: names from common-name lists, e-mail addresses at
example.com/.net/.org, 555-01xx phone numbers, SSNs with group 00 (never
issued) and IP addresses from private and documentation ranges.
"""

import datetime
import functools
import heapq
import itertools
import random
from collections.abc import Callable, Iterator

__all__ = ["TENANTS", "generate_events"]

TENANTS = ("acme-bank", "st-marys-hospital", "northwind-shop")
_BANK, _HOSPITAL, _SHOP = TENANTS

# Times are integer microseconds since the Unix epoch: exact, cheap to compare.
_SECOND = 1_000_000
_MINUTE = 60 * _SECOND
_HOUR = 60 * _MINUTE
_DAY = 24 * _HOUR
_EPOCH = datetime.datetime(1970, 1, 1)

# Relative traffic per UTC hour; weekends are quieter.
_HOURLY_ACTIVITY = (
    *(0.15, 0.12, 0.10, 0.10, 0.12, 0.20, 0.40, 0.80),
    *(1.00, 1.00, 1.00, 1.00, 0.90, 1.00, 1.00, 1.00),
    *(0.95, 0.85, 0.70, 0.55, 0.45, 0.35, 0.25, 0.20),
)
_WEEKEND_FACTOR = 0.5
_NIGHT_HOURS = frozenset((22, 23, 0, 1, 2, 3, 4, 5))

# Chance that a newly started activity is one of the patterns alerting looks
# for instead; each pattern then comes out a couple of times per 1,000 events.
_P_LOGIN_BURST = 0.003
_P_PASSWORD_STORM = 0.003
_P_NIGHT_SNOOPING = 0.003
_P_EXPORT_SPREE = 0.001
_P_EMERGENCY_ACCESS = 0.002
# The shop's publisher breaks this long before the end (a silence worth an alert), when the
# demo spans long enough to show it.
_SHOP_QUIET = 36 * _HOUR
_SHOP_QUIET_MIN_DAYS = 4

# Event type -> (tenant, aggregate type, classification). Classification is a
# property of the kind of event: money movement and customer records are
# confidential, anything clinical is restricted, sign-ins and orders internal.
_EVENT_TYPES = {
    "AccountOpened": (_BANK, "Account", "confidential"),
    "AccountUpdated": (_BANK, "Account", "confidential"),
    "AccountFrozen": (_BANK, "Account", "confidential"),
    "TransferInitiated": (_BANK, "Transfer", "confidential"),
    "TransferApproved": (_BANK, "Transfer", "confidential"),
    "TransferCompleted": (_BANK, "Transfer", "confidential"),
    "TransferRejected": (_BANK, "Transfer", "confidential"),
    "UserLoggedIn": (_BANK, "User", "internal"),
    "LoginFailed": (_BANK, "User", "internal"),
    "PasswordChanged": (_BANK, "User", "internal"),
    "UserUpdated": (_BANK, "User", "internal"),
    "StatementExported": (_BANK, "Account", "confidential"),
    "PatientRegistered": (_HOSPITAL, "Patient", "restricted"),
    "PatientRecordViewed": (_HOSPITAL, "Patient", "restricted"),
    "PatientRecordUpdated": (_HOSPITAL, "Patient", "restricted"),
    "PrescriptionIssued": (_HOSPITAL, "Prescription", "restricted"),
    "PrescriptionDispensed": (_HOSPITAL, "Prescription", "restricted"),
    "EmergencyAccessGranted": (_HOSPITAL, "Patient", "restricted"),
    "StaffUserLoggedIn": (_HOSPITAL, "StaffUser", "internal"),
    "CustomerRegistered": (_SHOP, "Customer", "confidential"),
    "CustomerUpdated": (_SHOP, "Customer", "confidential"),
    "OrderCreated": (_SHOP, "Order", "internal"),
    "OrderPaid": (_SHOP, "Order", "internal"),
    "OrderShipped": (_SHOP, "Order", "internal"),
    "OrderReturned": (_SHOP, "Order", "internal"),
    "OrderRefunded": (_SHOP, "Order", "internal"),
}

# Transfers above this need a compliance officer's approval.
_MANUAL_REVIEW_CENTS = 1_000_000

# fmt: off
_FIRST_NAMES = (
    "James", "Mary", "John", "Patricia", "Robert", "Jennifer", "Michael",
    "Linda", "David", "Elizabeth", "William", "Barbara", "Richard", "Susan",
    "Joseph", "Jessica", "Thomas", "Sarah", "Carlos", "Maria", "Wei", "Mei",
    "Aarav", "Priya", "Mohammed", "Fatima", "Olusegun", "Amara", "Hiroshi",
    "Yuki", "Liam", "Emma", "Noah", "Olivia", "Lucas", "Sofia", "Mateo",
    "Isabella", "Ethan", "Chloe",
)
_LAST_NAMES = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller",
    "Davis", "Rodriguez", "Martinez", "Hernandez", "Lopez", "Gonzalez",
    "Wilson", "Anderson", "Thomas", "Taylor", "Moore", "Jackson", "Martin",
    "Lee", "Perez", "Thompson", "White", "Harris", "Sanchez", "Clark",
    "Lewis", "Robinson", "Walker", "Young", "Allen", "King", "Wright",
    "Scott", "Nguyen", "Hill", "Flores", "Green", "Adams", "Nelson", "Baker",
    "Hall", "Rivera", "Campbell", "Mitchell", "Carter", "Roberts", "Chen",
    "Patel", "Kim", "O'Brien",
)
_STREETS = (
    "Oak Street", "Maple Avenue", "Cedar Lane", "Elm Street", "Pine Road",
    "Lakeview Drive", "Hillcrest Avenue", "Park Place", "Washington Street",
    "Riverside Drive", "Sunset Boulevard", "Church Street", "Mill Road",
    "Highland Avenue", "Willow Court", "Chestnut Street",
)
_CITIES = (
    ("Springfield", "IL", "627"), ("Riverton", "WY", "825"),
    ("Fairview", "OR", "970"), ("Madison", "WI", "537"),
    ("Georgetown", "TX", "786"), ("Salem", "MA", "019"),
    ("Franklin", "TN", "370"), ("Clinton", "IA", "527"),
    ("Arlington", "VA", "222"), ("Ashland", "OR", "975"),
)
# fmt: on
_EMAIL_DOMAINS = ("example.com", "example.net", "example.org")

_BROWSERS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like"
    " Gecko) Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15"
    " (KHTML, like Gecko) Version/17.4 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like"
    " Gecko) Chrome/124.0.0.0 Safari/537.36 Edg/124.0.2478.67",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15"
    " (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like"
    " Gecko) Chrome/124.0.0.0 Mobile Safari/537.36",
)
_ATTACK_CLIENTS = ("python-requests/2.31.0", "curl/8.5.0", "Go-http-client/1.1")

# (actor id, user agent); each tenant's services sit in its own 10.x network.
_SERVICES = {
    _BANK: (
        ("svc-online-banking", "online-banking-api/5.3.2 (okhttp/4.12.0)"),
        ("svc-payments", "payments-core/4.2.1 grpc-java/1.62.2"),
        ("svc-payment-gateway", "swift-gateway/2.8.0 (Java/21.0.3)"),
        ("svc-fraud", "fraud-engine/3.0.7 python-httpx/0.27.0"),
        ("svc-onboarding", "onboarding-service/1.19.4 node-fetch/3.3.2"),
    ),
    _HOSPITAL: (
        ("svc-pharmacy", "pharmacy-cabinet-bridge/6.1.0"),
        ("svc-lab-interface", "hl7-interface-engine/4.5.0"),
    ),
    _SHOP: (
        ("svc-checkout", "checkout-service/2.14.0 aiohttp/3.9.5"),
        ("svc-fulfilment", "fulfilment-worker/1.7.3 python-requests/2.31.0"),
        ("svc-payments", "payments-adapter/3.1.0 stripe-python/9.6.0"),
    ),
}
_SYSTEMS = {
    _BANK: "system:overdraft-review",
    _HOSPITAL: "system:patient-index",
    _SHOP: "system:consent-expiry",
}
_STAFF_NETWORK = {_BANK: 10, _HOSPITAL: 20, _SHOP: 30}
# Cycled through when hiring, so every role exists once there are enough staff.
_ROLES = {
    _BANK: ("teller", "operations", "compliance_officer", "it_admin", "teller"),
    _HOSPITAL: (
        "physician",
        "nurse",
        "registration_clerk",
        "pharmacist",
        "nurse",
        "physician",
    ),
    _SHOP: ("support_agent", "support_agent", "store_admin"),
}

_BANK_PRODUCTS = ("checking", "checking", "savings", "business_checking")
_CURRENCIES = ("USD",) * 17 + ("EUR", "EUR", "GBP")
_TRANSFER_REFERENCES = (
    "Rent",
    "Invoice",
    "Payroll",
    "Utilities",
    "Loan repayment",
    "Gift",
    "Tuition",
    "Card settlement",
)
_REJECTION_REASONS = (
    "sanctions_screening_hit",
    "suspected_fraud",
    "daily_limit_exceeded",
)
_FREEZE_REASONS = (
    "suspected_fraud",
    "court_order",
    "kyc_documents_expired",
    "sanctions_review",
)
_LOGIN_METHODS = ("password+totp", "sso", "webauthn")

_RECORD_SECTIONS = (
    "summary",
    "medications",
    "lab_results",
    "clinical_notes",
    "imaging",
    "allergies",
    "demographics",
)
_ACCESS_REASONS = ("treatment",) * 6 + ("care_coordination", "billing")
_EMERGENCY_REASONS = ("unconscious patient in the emergency department", "patient transferred at night",
                      "code blue")
_DIAGNOSES = (
    ("E11.9", "Type 2 diabetes mellitus without complications"),
    ("I10", "Essential (primary) hypertension"),
    ("J45.909", "Unspecified asthma, uncomplicated"),
    ("J06.9", "Acute upper respiratory infection, unspecified"),
    ("M54.50", "Low back pain, unspecified"),
    ("F41.1", "Generalized anxiety disorder"),
    ("N39.0", "Urinary tract infection, site not specified"),
    ("K21.9", "Gastro-esophageal reflux disease without esophagitis"),
    ("E78.5", "Hyperlipidemia, unspecified"),
    ("S93.401A", "Sprain of unspecified ligament of right ankle"),
)
# (LOINC code, test, unit, low, high): results are strings, payloads hold no floats.
_LAB_TESTS = (
    ("4548-4", "Hemoglobin A1c", "%", 48, 95),
    ("2345-7", "Glucose", "mg/dL", 700, 1900),
    ("2823-3", "Potassium", "mmol/L", 33, 55),
    ("718-7", "Hemoglobin", "g/dL", 100, 175),
    ("2160-0", "Creatinine", "mg/dL", 5, 19),
)
_ALLERGENS = ("Penicillin", "Peanuts", "Latex", "Sulfonamides", "Shellfish")
# (medication, strength, dose, frequency, quantity)
_MEDICATIONS = (
    ("Amoxicillin", "500 mg", "1 capsule", "three times daily", 21),
    ("Metformin", "500 mg", "1 tablet", "twice daily", 60),
    ("Lisinopril", "10 mg", "1 tablet", "once daily", 30),
    ("Atorvastatin", "20 mg", "1 tablet", "once daily at night", 30),
    ("Albuterol inhaler", "90 mcg/actuation", "2 puffs", "every 4-6 hours", 1),
    ("Ibuprofen", "400 mg", "1 tablet", "every 6 hours as needed", 20),
    ("Omeprazole", "20 mg", "1 capsule", "once daily", 28),
    ("Sertraline", "50 mg", "1 tablet", "once daily", 30),
    ("Nitrofurantoin", "100 mg", "1 capsule", "twice daily", 10),
)
_INSURERS = ("Blue Harbor Health", "Evergreen Mutual", "Medicare", "Summit Care")
_HOSPITAL_UNITS = ("ed", "icu", "ward3", "ward5", "opd", "pharm", "reg")

# (sku, name, unit price in cents)
_CATALOGUE = (
    ("NW-TEA-001", "Darjeeling tea, 250 g", 1299),
    ("NW-COF-014", "Espresso beans, 1 kg", 2499),
    ("NW-MUG-003", "Stoneware mug", 1450),
    ("NW-KTL-020", "Electric kettle", 5999),
    ("NW-GRN-007", "Burr coffee grinder", 8900),
    ("NW-CHO-002", "Dark chocolate, 6 bars", 1899),
    ("NW-BAG-011", "Canvas tote bag", 999),
    ("NW-PRS-005", "French press, 1 l", 3499),
    ("NW-SCL-009", "Kitchen scale", 2799),
    ("NW-GFT-050", "Gift card", 5000),
)
_CARRIERS = ("UPS", "FedEx", "USPS", "DHL")
_WAREHOUSES = ("wh-reno-1", "wh-columbus-2", "wh-allentown-1")
_RETURN_REASONS = ("damaged", "wrong_item", "not_as_described", "changed_mind")

_HOLDER_PII = (
    "/name",
    "/date_of_birth",
    "/email",
    "/phone",
    "/ssn",
    "/address/street",
    "/address/city",
    "/address/postal_code",
)
_ADDRESS_PII = ("/address/street", "/address/city", "/address/postal_code")


def generate_events(
    *,
    count: int,
    seed: int = 1,
    until: datetime.datetime | None = None,
    days: int = 30,
) -> Iterator[dict]:
    """Yield ``count`` ingest-API event dicts for ``TENANTS``, oldest first.

    The events are spread over the ``days`` days before ``until`` (default:
    today's midnight UTC; a naive ``until`` is taken as UTC) and are the same
    for the same (count, seed, until, days). Arguments are checked on the
    call, not on the first ``next()``.
    """
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise ValueError(f"count must be a non-negative integer, got {count!r}")
    if isinstance(days, bool) or not isinstance(days, int) or days < 1:
        raise ValueError(f"days must be a positive integer, got {days!r}")
    if until is None:
        until = datetime.datetime.now(datetime.timezone.utc).replace(
            hour=0, minute=0, second=0, microsecond=0
        )
    elif not isinstance(until, datetime.datetime):
        raise TypeError(f"until must be a datetime, got {type(until).__name__}")
    if until.tzinfo is not None:
        until = until.astimezone(datetime.timezone.utc).replace(tzinfo=None)
    until_us = (until - _EPOCH) // datetime.timedelta(microseconds=1)
    return _generate(count, seed, until_us - days * _DAY, days)


def _generate(count: int, seed: int, start_us: int, days: int) -> Iterator[dict]:
    """Run the simulation; see the module docstring for how time advances."""
    rng = random.Random(seed)
    simulation = _Simulation(rng, count)
    if days >= _SHOP_QUIET_MIN_DAYS:
        simulation.shop_quiet_from = start_us + days * _DAY - _SHOP_QUIET
    pending = simulation.pending
    for now in _baseline(rng, count, start_us, days):
        event = None
        while event is None and pending and pending[0][0] <= now:
            due, _, action, args = heapq.heappop(pending)
            event = action(due, *args)
            if event["tenant"] == _SHOP and due >= simulation.shop_quiet_from:
                event = None  # the shop's publisher is down: its flow's next step is lost
        yield event if event is not None else simulation.start(now)


def _baseline(rng: random.Random, count: int, start_us: int, days: int):
    """Yield ``count`` sorted instants in [start, start + days), busier by day."""
    first_hour = start_us // _HOUR
    weights = []
    for hour in range(first_hour, first_hour + days * 24):
        weight = _HOURLY_ACTIVITY[hour % 24]
        if (hour // 24 + 3) % 7 >= 5:  # 1970-01-01 was a Thursday (3)
            weight *= _WEEKEND_FACTOR
        weights.append(weight)
    cumulative = list(itertools.accumulate(weights, initial=0.0))
    total = cumulative[-1]
    last_bucket = len(weights) - 1
    end = start_us + days * _DAY - 1
    bucket = 0
    previous = start_us
    remaining = 1.0  # 1 - the latest uniform order statistic
    for left in range(count, 0, -1):
        # The smallest of `left` uniforms on [u, 1) is u + (1 - u)(1 - V**(1/left)),
        # which streams the sorted sample without storing it.
        remaining *= (1.0 - rng.random()) ** (1.0 / left)
        target = (1.0 - remaining) * total
        while bucket < last_bucket and cumulative[bucket + 1] <= target:
            bucket += 1
        hours = bucket + (target - cumulative[bucket]) / weights[bucket]
        # max/min absorb float rounding at bucket edges and at the very end.
        previous = max(previous, min(end, start_us + int(hours * _HOUR)))
        yield previous


def _rfc3339(micros: int) -> str:
    """Format epoch microseconds as RFC 3339 UTC with microseconds and ``Z``."""
    # Going through datetime for every event is a third of the run time; the
    # date part changes once a day, so it is cached and the rest is arithmetic.
    day, micros = divmod(micros, _DAY)
    date = _date(day)
    seconds, micros = divmod(micros, _SECOND)
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{date}T{hours:02d}:{minutes:02d}:{seconds:02d}.{micros:06d}Z"


@functools.lru_cache(maxsize=1024)
def _date(day: int) -> str:
    """Return the ISO date of ``day`` days after 1970-01-01."""
    return (_EPOCH + datetime.timedelta(days=day)).date().isoformat()


# The bits ``uuid.UUID(int=..., version=4)`` clears, then sets, written out
# because building a UUID object per event costs more than the rest of it.
_UUID_CLEAR = ~((0xF000 << 64) | (0xC000 << 48))
_UUID_SET = (0x4000 << 64) | (0x8000 << 48)


def _uuid4(bits: int) -> str:
    """Return ``str(uuid.UUID(int=bits, version=4))`` for a 128-bit ``bits``."""
    text = f"{bits & _UUID_CLEAR | _UUID_SET:032x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


class _Account:
    """A bank account's running state."""

    __slots__ = ("id", "currency", "balance", "status")

    def __init__(self, id: str, currency: str, balance: int) -> None:
        self.id = id
        self.currency = currency
        self.balance = balance
        self.status = "active"


class _Staff:
    """A tenant employee: an actor, and for the bank and hospital a user aggregate."""

    __slots__ = ("actor", "role", "first", "last")

    def __init__(self, actor: dict, role: str, first: str, last: str) -> None:
        self.actor = actor
        self.role = role
        self.first = first
        self.last = last


class _Simulation:
    """The three tenants' state and the events that change it.

    A method named after an event type (``_order_paid``) returns that event at
    ``now``, updates the state and schedules whatever comes next in the flow.
    """

    def __init__(self, rng: random.Random, count: int) -> None:
        self.rng = rng
        self._random = rng.random
        # (due, tie-breaker, action, args): the counter keeps heapq from ever
        # comparing actions, and makes equal due times come out in FIFO order.
        self.pending: list[tuple[int, int, Callable[..., dict], tuple]] = []
        self._order = itertools.count()
        self._serials: dict[str, itertools.count] = {}
        # Populations grow with count (so timelines stay long) but are capped
        # (so memory stays bounded); at count=5,000: 17 staff and 100 accounts,
        # patients and customers per tenant.
        people = max(6, min(400, round(count / 300)))
        self.target = max(10, min(5000, count // 50))
        self.staff = {tenant: self._hire(tenant, people) for tenant in TENANTS}
        # Looked up on most events, so kept ready rather than filtered each time.
        self.by_role: dict[str, dict[str, list[_Staff]]] = {}
        for tenant, staff in self.staff.items():
            self.by_role[tenant] = {role: [] for role in _ROLES[tenant]}
            for member in staff:
                self.by_role[tenant][member.role].append(member)
        self.services = {
            tenant: {
                name: {
                    "id": name,
                    "type": "service",
                    "ip": f"10.{_STAFF_NETWORK[tenant] + 1}.0.{index + 10}",
                    "user_agent": agent,
                }
                for index, (name, agent) in enumerate(services)
            }
            for tenant, services in _SERVICES.items()
        }
        self.systems = {
            tenant: {"id": name, "type": "system"} for tenant, name in _SYSTEMS.items()
        }
        self._merged: dict[tuple[str, ...], list[_Staff]] = {}
        self.accounts: list[_Account] = []
        self.patients: list[tuple[str, str]] = []  # (aggregate id, MRN)
        self.customers: list[tuple[str, dict]] = []  # (aggregate id, actor)
        self.shop_quiet_from = 1 << 62  # set by _generate: from then on the shop sends nothing

    # -- plumbing ---------------------------------------------------------

    def start(self, now: int) -> dict:
        """Start something new at ``now``: mostly ordinary traffic, rarely a pattern."""
        rng = self.rng
        roll = rng.random()
        if roll < _P_LOGIN_BURST:
            return self._login_burst(now)
        if roll < _P_LOGIN_BURST + _P_PASSWORD_STORM:
            return self._password_storm(now)
        if roll < _P_LOGIN_BURST + _P_PASSWORD_STORM + _P_NIGHT_SNOOPING:
            # Scheduled for the coming night; something ordinary happens now.
            if self.patients:
                self._plan_night_snooping(now)
        elif roll < _P_LOGIN_BURST + _P_PASSWORD_STORM + _P_NIGHT_SNOOPING + _P_EXPORT_SPREE:
            if self.accounts:
                return self._export_spree(now)
        elif roll < _P_LOGIN_BURST + _P_PASSWORD_STORM + _P_NIGHT_SNOOPING + _P_EXPORT_SPREE + _P_EMERGENCY_ACCESS:
            if self.patients:
                return self._emergency_access(now)
        night = (now // _HOUR) % 24 in _NIGHT_HOURS
        # Bank staff go home; patients and shoppers do not.
        roll = rng.random() * (1.0 if night else 1.15)
        if roll < 0.35:
            return self._hospital(now, night)
        if roll < 0.70 and now < self.shop_quiet_from:
            return self._shop(now)
        return self._bank(now)

    def _later(self, due: int, action: Callable[..., dict], *args) -> None:
        """Have ``action(due, *args)`` produce an event at ``due``."""
        heapq.heappush(self.pending, (due, next(self._order), action, args))

    def _event(
        self,
        now: int,
        event_type: str,
        aggregate_id: str,
        actor: dict,
        trace_id: str,
        payload: dict,
        pii: tuple[str, ...] = (),
    ) -> dict:
        """Build one event; its type decides tenant, aggregate type, classification."""
        tenant, aggregate_type, classification = _EVENT_TYPES[event_type]
        return {
            "event_id": _uuid4(self.rng.getrandbits(128)),
            "tenant": tenant,
            "aggregate_type": aggregate_type,
            "aggregate_id": aggregate_id,
            "event_type": event_type,
            "schema_version": 1,
            "occurred_at": _rfc3339(now),
            "actor": dict(actor),  # a copy, so a consumer's edits stay local
            "trace_id": trace_id,
            "classification": classification,
            "pii": list(pii),
            "payload": payload,
        }

    def _trace(self) -> str:
        """A fresh W3C-style trace id: 32 lower-case hex digits."""
        return f"{self.rng.getrandbits(128):032x}"

    def _serial(self, prefix: str, width: int, first: int = 1) -> str:
        """The next id in the ``prefix`` series, e.g. ``acc-000042``."""
        serials = self._serials.get(prefix)
        if serials is None:
            serials = self._serials[prefix] = itertools.count(first)
        return f"{prefix}-{next(serials):0{width}d}"

    # random.choice and randint cost several times more than one random();
    # its 53 bits are plenty for the ranges used here.
    def _pick(self, options):
        """A random element of the sequence ``options``."""
        return options[int(self._random() * len(options))]

    def _between(self, low: int, high: int) -> int:
        """A random integer from ``low`` to ``high``, both included."""
        return low + int(self._random() * (high - low + 1))

    def _staff(self, tenant: str, *roles: str) -> _Staff:
        """A random member of ``tenant``'s staff, of one of ``roles`` if given."""
        if not roles:
            return self._pick(self.staff[tenant])
        by_role = self.by_role[tenant]
        if len(roles) == 1:
            return self._pick(by_role[roles[0]])
        # Merging lists on every call is slow; role changes clear this cache.
        key = (tenant, *roles)
        merged = self._merged.get(key)
        if merged is None:
            merged = [member for role in roles for member in by_role[role]]
            self._merged[key] = merged
        return self._pick(merged)

    def _hire(self, tenant: str, people: int) -> list[_Staff]:
        """Invent ``people`` employees with unique ``u-<initial><surname>`` ids."""
        roles = _ROLES[tenant]
        network = _STAFF_NETWORK[tenant]
        taken: set[str] = set()
        staff = []
        for index in range(people):
            first, last = self._pick(_FIRST_NAMES), self._pick(_LAST_NAMES)
            base = "u-" + _slug(first[0] + last)
            user_id, suffix = base, 1
            while user_id in taken:
                suffix += 1
                user_id = f"{base}{suffix}"
            taken.add(user_id)
            actor = {
                "id": user_id,
                "type": "user",
                "ip": f"10.{network}.{self._between(0, 255)}.{self._between(1, 254)}",
                "user_agent": self._pick(_BROWSERS[:4]),  # desktops at work
            }
            staff.append(_Staff(actor, roles[index % len(roles)], first, last))
        return staff

    # -- fictional people --------------------------------------------------

    def _person(self) -> dict:
        """Name, date of birth, e-mail, phone and address of someone invented."""
        rng = self.rng
        first, last = self._pick(_FIRST_NAMES), self._pick(_LAST_NAMES)
        born = datetime.date(1940, 1, 1) + datetime.timedelta(days=rng.randrange(24000))
        return {
            "name": f"{first} {last}",
            "date_of_birth": born.isoformat(),
            "email": self._email(first, last),
            "phone": self._phone(),
            "address": self._address(),
        }

    def _email(self, first: str, last: str) -> str:
        """An address at a reserved example domain."""
        domain = self._pick(_EMAIL_DOMAINS)
        return f"{_slug(first)}.{_slug(last)}{self._between(1, 99)}@{domain}"

    def _phone(self) -> str:
        """A North American number that cannot ring anyone."""
        # 555-0100..0199 is reserved for fiction in the North American plan.
        return f"+1-{self._between(201, 989)}-555-01{self._between(0, 99):02d}"

    def _address(self) -> dict:
        """A plausible US postal address."""
        city, state, zip_prefix = self._pick(_CITIES)
        return {
            "street": f"{self._between(1, 9899)} {self._pick(_STREETS)}",
            "city": city,
            "region": state,
            "postal_code": f"{zip_prefix}{self._between(0, 99):02d}",
            "country": "US",
        }

    def _ssn(self) -> str:
        """An SSN-shaped string that no one holds."""
        # Group number 00 is never issued, so this cannot be anyone's SSN.
        return f"{self._between(100, 899):03d}-00-{self._between(1, 9999):04d}"

    def _public_client(self) -> tuple[str, str]:
        """An (ip, user agent) pair for someone on the internet."""
        rng = self.rng
        kind = rng.random()
        if kind < 0.4:
            ip = f"192.0.2.{self._between(1, 254)}"
        elif kind < 0.8:
            ip = f"198.51.100.{self._between(1, 254)}"
        else:
            subnet = f"{rng.getrandbits(16):x}:{rng.getrandbits(16):x}"
            ip = f"2001:db8:{subnet}::{self._between(1, 0xFFFF):x}"
        return ip, self._pick(_BROWSERS)

    # -- acme-bank -----------------------------------------------------------

    def _bank(self, now: int) -> dict:
        """Start a bank activity, opening accounts until there are enough."""
        rng = self.rng
        accounts = len(self.accounts)
        growing = accounts < self.target and rng.random() < 0.2
        if not accounts or growing or rng.random() < 0.01:
            return self._account_opened(now)
        roll = rng.random()
        if roll < 0.42:
            return self._transfer_initiated(now)
        if roll < 0.58:
            return self._user_logged_in(now, self._staff(_BANK), self._trace())
        if roll < 0.63:
            return self._login_failed(now)
        if roll < 0.85:
            return self._account_updated(now)
        if roll < 0.87:
            return self._account_frozen(now)
        if roll < 0.94:
            return self._password_changed(now)
        return self._user_updated(now)

    def _account_opened(self, now: int) -> dict:
        rng = self.rng
        account = _Account(
            self._serial("acc", 6),
            self._pick(_CURRENCIES),
            int(rng.lognormvariate(11.8, 1.0)),
        )
        self.accounts.append(account)
        online = rng.random() < 0.6
        if online:
            actor = self.services[_BANK]["svc-onboarding"]
        else:
            actor = self._staff(_BANK, "teller").actor
        payload = {
            "account_number": f"{self._between(10**9, 10**10 - 1)}",
            "product": self._pick(_BANK_PRODUCTS),
            "currency": account.currency,
            "status": "active",
            "opening_deposit_cents": account.balance,
            "balance_cents": account.balance,
            "overdraft_limit_cents": self._pick((0, 0, 50_000, 100_000)),
            "channel": "online" if online else "branch",
            "kyc_level": self._pick(("standard", "standard", "enhanced")),
            **self._person(),
            "ssn": self._ssn(),
        }
        return self._event(
            now, "AccountOpened", account.id, actor, self._trace(), payload, _HOLDER_PII
        )

    def _account_updated(self, now: int) -> dict:
        rng = self.rng
        account = self._pick(self.accounts)
        actor = self._staff(_BANK, "teller", "operations").actor
        pii: tuple[str, ...] = ()
        if account.status == "frozen" and rng.random() < 0.5:
            account.status = "active"
            actor = self._staff(_BANK, "compliance_officer").actor
            payload = {
                "changed_fields": ["status"],
                "status": "active",
                "previous_status": "frozen",
                "reason": "review_cleared",
            }
        else:
            change = rng.random()
            if change < 0.35:
                payload = {"changed_fields": ["address"], "address": self._address()}
                pii = _ADDRESS_PII
            elif change < 0.6:
                email = self._email(self._pick(_FIRST_NAMES), self._pick(_LAST_NAMES))
                payload = {"changed_fields": ["email"], "email": email}
                pii = ("/email",)
            elif change < 0.8:
                payload = {"changed_fields": ["phone"], "phone": self._phone()}
                pii = ("/phone",)
            else:
                actor = self.systems[_BANK]
                payload = {
                    "changed_fields": ["overdraft_limit_cents"],
                    "overdraft_limit_cents": self._pick((0, 50_000, 100_000, 250_000)),
                    "reason": "periodic_credit_review",
                }
            payload.setdefault("reason", "customer_request")
        return self._event(
            now, "AccountUpdated", account.id, actor, self._trace(), payload, pii
        )

    def _account_frozen(self, now: int) -> dict:
        # A few random draws find an active account without scanning them all.
        for _ in range(5):
            account = self._pick(self.accounts)
            if account.status == "active":
                break
        else:  # nearly everything is frozen already: review one instead
            return self._account_updated(now)
        account.status = "frozen"
        reason = self._pick(_FREEZE_REASONS)
        if reason == "suspected_fraud":
            actor = self.services[_BANK]["svc-fraud"]
        else:
            actor = self._staff(_BANK, "compliance_officer").actor
        payload = {
            "reason": reason,
            "case_id": self._serial("case", 5, first=4100),
            "previous_status": "active",
            "status": "frozen",
            "balance_cents": account.balance,
        }
        return self._event(
            now, "AccountFrozen", account.id, actor, self._trace(), payload
        )

    def _transfer_initiated(self, now: int) -> dict:
        rng = self.rng
        account = self._pick(self.accounts)
        services = self.services[_BANK]
        flow = {
            "id": self._serial("trf", 6),
            "trace": self._trace(),
            "source": None,
            "destination": None,
            "currency": account.currency,
        }
        direction = rng.random()
        if direction < 0.25:
            # Salaries and refunds arriving from other banks keep balances up.
            flow["destination"] = account
            amount = int(rng.lognormvariate(11.2, 0.9))
            actor = services["svc-payment-gateway"]
            payload = {
                "direction": "incoming",
                "to_account": account.id,
                "counterparty": self._counterparty(),
                "channel": "swift" if account.currency != "USD" else "ach",
            }
        else:
            flow["source"] = account
            if rng.random() < 0.92:
                amount = max(100, int(account.balance * rng.uniform(0.02, 0.4)))
            else:  # an overreach that screening will reject
                amount = account.balance + int(rng.lognormvariate(10.0, 1.0))
            others = len(self.accounts) > 1 and direction < 0.45
            destination = self._pick(self.accounts) if others else account
            if destination is not account:
                flow["destination"] = destination
                payload = {"direction": "internal", "from_account": account.id}
                payload["to_account"] = destination.id
            else:
                payload = {
                    "direction": "outgoing",
                    "from_account": account.id,
                    "counterparty": self._counterparty(),
                }
            branch = rng.random() < 0.3
            payload["channel"] = "branch" if branch else "online"
            if branch:
                actor = self._staff(_BANK, "teller").actor
            else:
                actor = services["svc-online-banking"]
        flow["amount"] = amount
        payload.update(
            amount_cents=amount,
            currency=account.currency,
            reference=f"{self._pick(_TRANSFER_REFERENCES)} {self._between(1000, 9999)}",
        )
        pii = (
            ("/counterparty/name", "/counterparty/iban")
            if "counterparty" in payload
            else ()
        )
        manual = amount > _MANUAL_REVIEW_CENTS
        delay = (
            self._between(10 * _MINUTE, 4 * _HOUR)
            if manual
            else self._between(5 * _SECOND, 10 * _MINUTE)
        )
        self._later(now + delay, self._transfer_decided, flow, manual)
        return self._event(
            now, "TransferInitiated", flow["id"], actor, flow["trace"], payload, pii
        )

    def _counterparty(self) -> dict:
        """Someone at another bank, with an IBAN that cannot exist."""
        first, last = self._pick(_FIRST_NAMES), self._pick(_LAST_NAMES)
        country = self._pick(("DE", "FR", "GB", "NL", "ES"))
        check = self._between(10, 99)
        return {
            "name": f"{first} {last}",
            # "TEST" as the bank code keeps these from being real accounts.
            "iban": f"{country}{check:02d}TEST{self._between(0, 10**12 - 1):012d}",
            "bank_bic": f"TEST{country}2X",
        }

    def _transfer_decided(self, now: int, flow: dict, manual: bool) -> dict:
        """Approve or reject a transfer after screening."""
        rng = self.rng
        source, destination = flow["source"], flow["destination"]
        amount = flow["amount"]
        if manual:
            actor = self._staff(_BANK, "compliance_officer").actor
        else:
            actor = self.services[_BANK]["svc-payments"]
        payload = {"amount_cents": amount, "currency": flow["currency"]}
        frozen = any(
            account is not None and account.status == "frozen"
            for account in (source, destination)
        )
        if frozen:
            reason = "account_frozen"
        elif source is not None and source.balance < amount:
            reason = "insufficient_funds"
            payload["available_balance_cents"] = source.balance
        elif rng.random() < 0.03:
            reason = self._pick(_REJECTION_REASONS)
        else:
            reason = None
        if reason is not None:
            payload["reason"] = reason
            event_type = "TransferRejected"
        else:
            if source is not None:
                source.balance -= amount  # held now, so concurrent transfers see it
            payload["review"] = "manual" if manual else "automatic"
            payload["screening_result"] = "clear"
            event_type = "TransferApproved"
            settle = self._between(30 * _SECOND, 45 * _MINUTE)
            self._later(now + settle, self._transfer_completed, flow)
        return self._event(now, event_type, flow["id"], actor, flow["trace"], payload)

    def _transfer_completed(self, now: int, flow: dict) -> dict:
        source, destination = flow["source"], flow["destination"]
        if source is not None and destination is not None:
            rail = "internal"
        else:
            rail = "ach" if flow["currency"] == "USD" else "swift"
        payload = {
            "amount_cents": flow["amount"],
            "currency": flow["currency"],
            "settlement_rail": rail,
        }
        if source is not None:
            payload["from_balance_after_cents"] = source.balance
        if destination is not None:
            destination.balance += flow["amount"]
            payload["to_balance_after_cents"] = destination.balance
        return self._event(
            now,
            "TransferCompleted",
            flow["id"],
            self.services[_BANK]["svc-payments"],
            flow["trace"],
            payload,
        )

    def _user_logged_in(self, now: int, user: _Staff, trace: str) -> dict:
        payload = {
            "method": self._pick(_LOGIN_METHODS),
            "session_id": f"{self.rng.getrandbits(64):016x}",
            "mfa": True,
        }
        return self._event(
            now, "UserLoggedIn", user.actor["id"], user.actor, trace, payload
        )

    def _login_failed(self, now: int) -> dict:
        rng = self.rng
        user = self._staff(_BANK)
        trace = self._trace()
        reason = self._pick(("invalid_password", "invalid_password", "mfa_failed"))
        # Most people get it right on the next try.
        if rng.random() < 0.85:
            retry = self._between(10 * _SECOND, 2 * _MINUTE)
            self._later(now + retry, self._user_logged_in, user, trace)
        payload = {"reason": reason, "failed_attempts": 1, "username": user.actor["id"]}
        return self._event(
            now, "LoginFailed", user.actor["id"], user.actor, trace, payload
        )

    def _login_burst(self, now: int) -> dict:
        """Pattern: one IP fails to log in many times within a minute."""
        rng = self.rng
        attacker = {
            "ip": f"203.0.113.{self._between(1, 254)}",
            "user_agent": self._pick(_ATTACK_CLIENTS),
        }
        targets = rng.sample(self.staff[_BANK], self._between(1, 3))
        attempts = {}
        at = now
        for attempt in range(self._between(10, 14)):
            target = targets[attempt % len(targets)]
            attempts[target.actor["id"]] = attempts.get(target.actor["id"], 0) + 1
            args = (target, attacker, attempts[target.actor["id"]])
            if attempt == 0:
                first = self._burst_attempt(now, *args)
            else:
                at += self._between(1 * _SECOND, 6 * _SECOND)
                self._later(at, self._burst_attempt, *args)
        return first

    def _burst_attempt(
        self, now: int, target: _Staff, attacker: dict, tries: int
    ) -> dict:
        actor = {"id": target.actor["id"], "type": "user", **attacker}
        payload = {
            # The account locks after five bad passwords in a row.
            "reason": "account_locked" if tries > 5 else "invalid_password",
            "failed_attempts": tries,
            "username": target.actor["id"],
        }
        return self._event(
            now, "LoginFailed", target.actor["id"], actor, self._trace(), payload
        )

    def _password_changed(self, now: int) -> dict:
        rng = self.rng
        user = self._staff(_BANK)
        if rng.random() < 0.8:
            actor, method = user.actor, "self_service"
        else:
            actor, method = self._staff(_BANK, "it_admin").actor, "admin_reset"
        return self._password_event(now, user, actor, method)

    def _password_storm(self, now: int) -> dict:
        """Pattern: the same user's password changed again and again within minutes."""
        rng = self.rng
        user = self._staff(_BANK)
        actor = dict(user.actor)
        if rng.random() < 0.5:  # half of them from somewhere unusual
            actor["ip"], actor["user_agent"] = self._public_client()
        at = now
        for _ in range(self._between(2, 4)):
            at += self._between(20 * _SECOND, 150 * _SECOND)
            self._later(at, self._password_event, user, actor, "self_service")
        return self._password_event(now, user, actor, "self_service")

    def _password_event(self, now: int, user: _Staff, actor: dict, method: str) -> dict:
        """A PasswordChanged event for ``user``, made by ``actor``."""
        payload = {
            "method": method,
            "sessions_revoked": self._between(0, 3),
            "password_policy": "2024-v2",
        }
        return self._event(
            now, "PasswordChanged", user.actor["id"], actor, self._trace(), payload
        )

    def _user_updated(self, now: int) -> dict:
        rng = self.rng
        user = self._staff(_BANK)
        admin = self._staff(_BANK, "it_admin")
        pii: tuple[str, ...] = ()
        change = rng.random()
        colleagues = self.by_role[_BANK][user.role]
        # Never move the last holder of a role: other events need someone in it.
        if change < 0.4 and len(colleagues) > 1:
            previous = user.role
            roles = [role for role in self.by_role[_BANK] if role != previous]
            user.role = self._pick(roles)
            colleagues.remove(user)
            self.by_role[_BANK][user.role].append(user)
            self._merged.clear()
            payload = {"changed_fields": ["role"], "role": user.role}
            payload["previous_role"] = previous
        elif change < 0.7:
            payload = {
                "changed_fields": ["email"],
                "email": f"{_slug(user.first)}.{_slug(user.last)}@bank.example.com",
            }
            pii = ("/email",)
        else:
            payload = {
                "changed_fields": ["mfa_devices"],
                "mfa_device": self._pick(("totp", "webauthn_key", "push")),
                "mfa_action": self._pick(("enrolled", "removed")),
            }
        return self._event(
            now,
            "UserUpdated",
            user.actor["id"],
            admin.actor,
            self._trace(),
            payload,
            pii,
        )

    # -- st-marys-hospital -----------------------------------------------------

    def _hospital(self, now: int, night: bool) -> dict:
        """Start a hospital activity, registering patients until there are enough."""
        rng = self.rng
        patients = len(self.patients)
        growing = patients < self.target and rng.random() < 0.2
        if not patients or growing or rng.random() < 0.01:
            return self._patient_registered(now)
        # The night shift is small and busy with care, not charts: most chart
        # views at night would be worth a question (see _plan_night_snooping).
        roll = rng.random() * (0.52 if night else 1.0)
        if roll < 0.12:
            return self._prescription_issued(now)
        if roll < 0.30:
            return self._staff_logged_in(now, self._staff(_HOSPITAL))
        if roll < 0.47:
            return self._record_updated(now)
        return self._record_viewed(now, self._staff(_HOSPITAL, "physician", "nurse"))

    def _patient_registered(self, now: int) -> dict:
        patient_id = self._serial("pat", 5)
        mrn = f"MRN{self._between(10**7, 10**8 - 1)}"
        self.patients.append((patient_id, mrn))
        payload = {
            "mrn": mrn,
            **self._person(),
            "sex": self._pick(("female", "male", "female", "male", "unknown")),
            "ssn": self._ssn(),
            "insurance": {
                "payer": self._pick(_INSURERS),
                "member_id": self._pick("ABCDEFGHJK")
                + str(self._between(10**8, 10**9 - 1)),
            },
        }
        pii = (*_HOLDER_PII, "/insurance/member_id")
        return self._event(
            now,
            "PatientRegistered",
            patient_id,
            self._staff(_HOSPITAL, "registration_clerk").actor,
            self._trace(),
            payload,
            pii,
        )

    def _record_viewed(self, now: int, viewer: _Staff) -> dict:
        patient_id, mrn = self._pick(self.patients)
        payload = {
            "mrn": mrn,
            "section": self._pick(_RECORD_SECTIONS),
            "access_reason": self._pick(_ACCESS_REASONS),
            "break_glass": False,
            "workstation": self._workstation(),
        }
        return self._event(
            now, "PatientRecordViewed", patient_id, viewer.actor, self._trace(), payload
        )

    def _record_updated(self, now: int) -> dict:
        rng = self.rng
        patient_id, mrn = self._pick(self.patients)
        actor = self._staff(_HOSPITAL, "physician", "nurse").actor
        pii: tuple[str, ...] = ()
        kind = rng.random()
        if kind < 0.3:
            payload = {
                "section": "vitals",
                "heart_rate_bpm": self._between(52, 118),
                "systolic_mmhg": self._between(98, 172),
                "diastolic_mmhg": self._between(58, 104),
                "temperature_decicelsius": self._between(358, 391),
                "spo2_percent": self._between(91, 100),
            }
        elif kind < 0.55:
            code, description = self._pick(_DIAGNOSES)
            payload = {
                "section": "diagnoses",
                "icd10": code,
                "description": description,
                "status": self._pick(("active", "active", "resolved")),
            }
        elif kind < 0.8:
            actor = self.services[_HOSPITAL]["svc-lab-interface"]
            loinc, test, unit, low, high = self._pick(_LAB_TESTS)
            value = self._between(low, high)  # tenths, rendered as a decimal string
            payload = {
                "section": "lab_results",
                "loinc": loinc,
                "test": test,
                "value": f"{value // 10}.{value % 10}",
                "unit": unit,
                "accession": self._serial("lab", 7),
            }
        elif kind < 0.9:
            payload = {
                "section": "allergies",
                "allergen": self._pick(_ALLERGENS),
                "reaction": self._pick(("rash", "hives", "anaphylaxis", "nausea")),
                "severity": self._pick(("mild", "moderate", "severe")),
            }
        else:
            # The master patient index tidies addresses overnight.
            actor = self.systems[_HOSPITAL]
            payload = {
                "section": "demographics",
                "changed_fields": ["address"],
                "address": self._address(),
            }
            pii = _ADDRESS_PII
        payload["mrn"] = mrn
        return self._event(
            now, "PatientRecordUpdated", patient_id, actor, self._trace(), payload, pii
        )

    def _prescription_issued(self, now: int) -> dict:
        rng = self.rng
        patient_id, _ = self._pick(self.patients)
        prescriber = self._staff(_HOSPITAL, "physician")
        medication, strength, dose, frequency, quantity = self._pick(_MEDICATIONS)
        flow = {
            "id": self._serial("rx", 6),
            "trace": self._trace(),
            "patient_id": patient_id,
            "quantity": quantity,
        }
        payload = {
            "patient_id": patient_id,
            "medication": medication,
            "strength": strength,
            "dose": dose,
            "frequency": frequency,
            "quantity": quantity,
            "refills": self._pick((0, 0, 0, 1, 2, 5)),
            "prescriber_id": prescriber.actor["id"],
        }
        if rng.random() < 0.88:  # the rest are never picked up
            pickup = self._between(15 * _MINUTE, 36 * _HOUR)
            self._later(now + pickup, self._prescription_dispensed, flow)
        return self._event(
            now,
            "PrescriptionIssued",
            flow["id"],
            prescriber.actor,
            flow["trace"],
            payload,
        )

    def _prescription_dispensed(self, now: int, flow: dict) -> dict:
        rng = self.rng
        if rng.random() < 0.5:
            actor = self._staff(_HOSPITAL, "pharmacist").actor
        else:
            actor = self.services[_HOSPITAL]["svc-pharmacy"]
        payload = {
            "patient_id": flow["patient_id"],
            "quantity_dispensed": flow["quantity"],
            "pharmacy": self._pick(("outpatient", "inpatient", "emergency")),
            "lot_number": f"L{self._between(100000, 999999)}",
        }
        return self._event(
            now, "PrescriptionDispensed", flow["id"], actor, flow["trace"], payload
        )

    def _staff_logged_in(self, now: int, member: _Staff) -> dict:
        payload = {
            "method": self._pick(("badge+pin", "badge+pin", "password+totp")),
            "workstation": self._workstation(),
            "role": member.role,
        }
        return self._event(
            now,
            "StaffUserLoggedIn",
            member.actor["id"],
            member.actor,
            self._trace(),
            payload,
        )

    def _workstation(self) -> str:
        """A hospital workstation name, e.g. ``ws-icu-04``."""
        return f"ws-{self._pick(_HOSPITAL_UNITS)}-{self._between(1, 24):02d}"

    def _export_spree(self, now: int) -> dict:
        """Pattern: one employee exports statement after statement within the hour."""
        member = self._staff(_BANK, "operations", "teller")
        accounts = self.rng.sample(self.accounts, min(len(self.accounts), self._between(20, 26)))
        at = now
        for account in accounts[1:]:
            at += self._between(30 * _SECOND, 120 * _SECOND)
            self._later(at, self._statement_exported, member, account)
        return self._statement_exported(now, member, accounts[0])

    def _statement_exported(self, now: int, member: _Staff, account: _Account) -> dict:
        payload = {"format": self._pick(("pdf", "csv")), "period": "last_12_months",
                   "workstation": self._workstation()}
        return self._event(now, "StatementExported", account.id, member.actor, self._trace(), payload)

    def _emergency_access(self, now: int) -> dict:
        """Pattern: a clinician breaks the glass to open a chart they are not assigned to."""
        member = self._staff(_HOSPITAL, "physician", "nurse")
        patient_id, mrn = self._pick(self.patients)
        payload = {"mrn": mrn, "reason": self._pick(_EMERGENCY_REASONS), "workstation": self._workstation()}
        self._later(now + self._between(10 * _SECOND, 60 * _SECOND), self._record_viewed, member)
        return self._event(now, "EmergencyAccessGranted", patient_id, member.actor, self._trace(), payload)

    def _plan_night_snooping(self, now: int) -> None:
        """Pattern: someone logs in around 02:00 UTC and browses patient charts."""
        member = self._staff(_HOSPITAL, "nurse", "registration_clerk")
        at = now - now % _DAY + self._between(1 * _HOUR, 3 * _HOUR)
        if at <= now:
            at += _DAY
        self._later(at, self._staff_logged_in, member)
        for _ in range(self._between(3, 6)):
            at += self._between(30 * _SECOND, 4 * _MINUTE)
            self._later(at, self._record_viewed, member)

    # -- northwind-shop --------------------------------------------------------

    def _shop(self, now: int) -> dict:
        """Start a shop activity, signing up customers until there are enough."""
        rng = self.rng
        customers = len(self.customers)
        growing = customers < self.target and rng.random() < 0.2
        if not customers or growing or rng.random() < 0.03:
            return self._customer_registered(now)
        if rng.random() < 0.7:
            return self._order_created(now)
        return self._customer_updated(now)

    def _customer_registered(self, now: int) -> dict:
        rng = self.rng
        customer_id = self._serial("cus", 5)
        ip, agent = self._public_client()
        actor = {"id": customer_id, "type": "user", "ip": ip, "user_agent": agent}
        self.customers.append((customer_id, actor))
        person = self._person()
        del person["date_of_birth"]  # a shop has no business asking
        payload = {**person, "marketing_opt_in": rng.random() < 0.4}
        pii = ("/name", "/email", "/phone", *_ADDRESS_PII)
        return self._event(
            now, "CustomerRegistered", customer_id, actor, self._trace(), payload, pii
        )

    def _customer_updated(self, now: int) -> dict:
        rng = self.rng
        customer_id, actor = self._pick(self.customers)
        pii: tuple[str, ...] = ()
        change = rng.random()
        if change < 0.4:
            payload = {"changed_fields": ["address"], "address": self._address()}
            pii = _ADDRESS_PII
        elif change < 0.6:
            first, last = self._pick(_FIRST_NAMES), self._pick(_LAST_NAMES)
            payload = {"changed_fields": ["email"], "email": self._email(first, last)}
            pii = ("/email",)
        elif change < 0.75:
            payload = {"changed_fields": ["phone"], "phone": self._phone()}
            pii = ("/phone",)
        elif change < 0.9:
            payload = {
                "changed_fields": ["marketing_opt_in"],
                "marketing_opt_in": rng.random() < 0.5,
            }
        else:
            actor = self.systems[_SHOP]
            payload = {
                "changed_fields": ["marketing_opt_in"],
                "marketing_opt_in": False,
                "reason": "consent_expired",
            }
        if actor is not self.systems[_SHOP] and rng.random() < 0.25:
            actor = self._staff(_SHOP, "support_agent").actor
            payload["ticket"] = self._serial("tkt", 6, first=20000)
        return self._event(
            now, "CustomerUpdated", customer_id, actor, self._trace(), payload, pii
        )

    def _order_created(self, now: int) -> dict:
        rng = self.rng
        customer_id, actor = self._pick(self.customers)
        items = []
        for sku, name, price in rng.sample(_CATALOGUE, self._pick((1, 1, 2, 2, 3, 4))):
            quantity = self._pick((1, 1, 1, 2, 3))
            items.append(
                {
                    "sku": sku,
                    "name": name,
                    "quantity": quantity,
                    "unit_price_cents": price,
                }
            )
        subtotal = sum(item["quantity"] * item["unit_price_cents"] for item in items)
        shipping = 0 if subtotal >= 5000 else 599
        tax = subtotal * 8 // 100  # integer cents, rounded down like the tills do
        flow = {
            "id": self._serial("ord", 5, first=10000),
            "trace": self._trace(),
            "customer": (customer_id, actor),
            "total": subtotal + shipping + tax,
            "items": [item["sku"] for item in items],
        }
        payload = {
            "customer_id": customer_id,
            "items": items,
            "subtotal_cents": subtotal,
            "shipping_cents": shipping,
            "tax_cents": tax,
            "total_cents": flow["total"],
            "currency": "USD",
            "shipping_method": self._pick(("standard", "standard", "express")),
        }
        if rng.random() < 0.9:  # the rest are abandoned at checkout
            checkout = self._between(20 * _SECOND, 15 * _MINUTE)
            self._later(now + checkout, self._order_paid, flow)
        return self._event(
            now, "OrderCreated", flow["id"], actor, flow["trace"], payload
        )

    def _order_paid(self, now: int, flow: dict) -> dict:
        rng = self.rng
        method = self._pick(("card", "card", "card", "paypal", "gift_card"))
        payload = {
            "amount_cents": flow["total"],
            "currency": "USD",
            "payment_method": method,
            "psp_reference": f"pi_{rng.getrandbits(96):024x}",
        }
        if method == "card":
            payload["card_brand"] = self._pick(("visa", "mastercard", "amex"))
            payload["card_last4"] = f"{self._between(0, 9999):04d}"
        if rng.random() < 0.97:
            pack = self._between(3 * _HOUR, 3 * _DAY)
            self._later(now + pack, self._order_shipped, flow)
        return self._event(
            now,
            "OrderPaid",
            flow["id"],
            self.services[_SHOP]["svc-checkout"],
            flow["trace"],
            payload,
        )

    def _order_shipped(self, now: int, flow: dict) -> dict:
        rng = self.rng
        carrier = self._pick(_CARRIERS)
        payload = {
            "carrier": carrier,
            "tracking_number": carrier[:2].upper()
            + str(self._between(10**11, 10**12 - 1)),
            "warehouse": self._pick(_WAREHOUSES),
            "items": list(flow["items"]),
        }
        if rng.random() < 0.08:
            second_thoughts = self._between(2 * _DAY, 14 * _DAY)
            self._later(now + second_thoughts, self._order_returned, flow)
        return self._event(
            now,
            "OrderShipped",
            flow["id"],
            self.services[_SHOP]["svc-fulfilment"],
            flow["trace"],
            payload,
        )

    def _order_returned(self, now: int, flow: dict) -> dict:
        rng = self.rng
        _, actor = flow["customer"]
        payload = {
            "reason": self._pick(_RETURN_REASONS),
            "items": list(flow["items"]),
            "rma": self._serial("rma", 6),
        }
        if rng.random() < 0.95:  # a few returns are refused on inspection
            inspect = self._between(1 * _DAY, 5 * _DAY)
            self._later(now + inspect, self._order_refunded, flow)
        return self._event(
            now, "OrderReturned", flow["id"], actor, flow["trace"], payload
        )

    def _order_refunded(self, now: int, flow: dict) -> dict:
        rng = self.rng
        if rng.random() < 0.3:
            actor = self._staff(_SHOP, "support_agent").actor
        else:
            actor = self.services[_SHOP]["svc-payments"]
        payload = {
            "amount_cents": flow["total"],
            "currency": "USD",
            "reason": "return_received",
            "refund_method": "original_payment",
        }
        return self._event(
            now, "OrderRefunded", flow["id"], actor, flow["trace"], payload
        )


def _slug(text: str) -> str:
    """Lower-case ``text`` and keep only letters and digits (O'Brien -> obrien)."""
    return "".join(character for character in text.lower() if character.isalnum())
