"""Builds the old system's database the way Django 4.2 itself writes it: `migrate` creates the
tables from conversations/models.py, and every row goes in through the ORM (make_password's
pbkdf2_sha256 hashes, microsecond datetimes, empty FileFields, a DurationField, a deleted
agent, one phone number spelled four ways, open and pending tickets).

Usage: python build_db.py OUT.sqlite3   (with the venv that setup.sh makes)
Prints a JSON object of facts the Rust test checks (tests/integration/import_django.rs).
"""

import json
import os
import sys
from datetime import datetime, timedelta, timezone

sys.dont_write_bytecode = True  # nothing written into the source tree
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
os.environ["DJANGO_SETTINGS_MODULE"] = "settings"
os.environ["DJANGO_DB"] = os.path.abspath(sys.argv[1])

import django  # noqa: E402

django.setup()

from django.contrib.auth.hashers import make_password  # noqa: E402
from django.contrib.auth.models import User  # noqa: E402
from django.core.management import call_command  # noqa: E402

from conversations.models import (  # noqa: E402
    ActivityLog,
    Admin,
    Agent,
    Customer,
    CustomerNote,
    Message,
    ResponseTimeTracking,
    Ticket,
    TicketStateLog,
)

call_command("migrate", verbosity=0, interactive=False)


def at(day, hour, minute, second=0, micro=0):
    """A September 2025 instant (UTC), with microseconds as Django keeps them."""
    return datetime(2025, 9, day, hour, minute, second, micro, tzinfo=timezone.utc)


OLD_PASSWORD = "صيدلية-توريل-2024"

boss = User.objects.create(
    username="boss",
    password=make_password("old-admin-pass"),
    is_superuser=True,
    is_staff=True,
    first_name="Khalifa",
    last_name="Owner",
    date_joined=at(1, 7, 0, 0, 250001),
)
Admin.objects.create(user=boss, department="management", created_at=at(1, 7, 1))


def agent(username, branch, password="agent-pass-2024"):
    u = User.objects.create(
        username=username,
        password=make_password(password),
        first_name=username.split("_")[1].title(),
        date_joined=at(1, 7, 30, 0, 123456),
    )
    return Agent.objects.create(user=u, branch=branch, is_online=True, response_time=42.5, rating=4.5)


toriel = agent("agent_toriel", "Toriel", OLD_PASSWORD)
mashaya = agent("agent_mashaya", "فرع المشاية")
mit_ghamr = agent("agent_mitghamr", "Mit Ghamr")
gone = agent("agent_talkha", "Talkha")

# One customer, four spellings of the number (as the old system let them in).
spellings = ["+20 100 123 4567", "01001234567", "٠١٠٠١٢٣٤٥٦٧", "201001234567@c.us"]
ahmed = [
    Customer.objects.create(phone=p, name="أحمد محمد", created_at=at(1, 8, i, 0, 500000 + i))
    for i, p in enumerate(spellings)
]
fatma = Customer.objects.create(phone="01112223334", name="فاطمة الزهراء", created_at=at(2, 9, 0))
omar = Customer.objects.create(phone="01223334445", name="عمر خالد", created_at=at(2, 10, 0))
sara = Customer.objects.create(phone="01098765432", name="Sara Hassan", created_at=at(3, 11, 0))
CustomerNote.objects.create(customer=ahmed[0], agent=toriel, note_content="يفضل التوصيل", created_at=at(1, 9, 0))

# A closed ticket, then an open one, for Ahmed (the spellings merge into one customer).
closed = Ticket.objects.create(
    customer=ahmed[0], agent=toriel, status="closed", created_at=at(1, 8, 10), closed_at=at(1, 9, 0, 0, 1)
)
Message.objects.create(ticket=closed, sender="customer", content="عندكم بنادول؟", created_at=at(1, 8, 10, 5, 1))
Message.objects.create(ticket=closed, sender="agent", content="متوفر", created_at=at(1, 8, 12, 0, 2))

BODY = "  عايز أسأل عن جرعة الأنسولين \n"
open_ahmed = Ticket.objects.create(customer=ahmed[1], agent=toriel, status="open", created_at=at(5, 14, 0, 0, 999999))
Message.objects.create(
    ticket=open_ahmed,
    sender="customer",
    content=BODY,
    created_at=at(5, 14, 0, 1, 654321),
    whatsapp_message_id="true_201001234567@c.us_3EB0AAA1",
)
# A photo whose file never reached the server: Django keeps an empty FileField as ''.
Message.objects.create(
    ticket=open_ahmed, sender="customer", content="", message_type="image", created_at=at(5, 14, 0, 30)
)
Message.objects.create(ticket=open_ahmed, sender="agent", content="أهلاً بحضرتك", created_at=at(5, 14, 3, 0, 1))
TicketStateLog.objects.create(ticket=open_ahmed, old_status=None, new_status="open", created_at=at(5, 14, 0))

# A measured reply with both times, and one with only the reply time and its DurationField.
ResponseTimeTracking.objects.create(
    ticket=open_ahmed,
    agent=toriel,
    customer_message_time=at(5, 14, 0, 1),
    agent_response_time=at(5, 14, 3, 0),
    response_time=timedelta(minutes=2, seconds=59),
    is_first_response=True,
)
DURATION = timedelta(seconds=95, microseconds=500000)
ResponseTimeTracking.objects.create(
    ticket=closed,
    agent=toriel,
    agent_response_time=at(1, 8, 12, 0),
    response_time=DURATION,
)

pending = Ticket.objects.create(customer=fatma, agent=mashaya, status="pending", created_at=at(6, 9, 0))
Message.objects.create(ticket=pending, sender="customer", content="هل الروشتة جاهزة؟", created_at=at(6, 9, 0, 1))
Message.objects.create(ticket=pending, sender="agent", content="نراجعها ونرد عليك", created_at=at(6, 9, 5))

orphan = Ticket.objects.create(customer=omar, agent=gone, status="open", created_at=at(7, 12, 0))
Message.objects.create(ticket=orphan, sender="customer", content="محتاج كونكور ٥", created_at=at(7, 12, 0, 2))

far_open = Ticket.objects.create(customer=sara, agent=mit_ghamr, status="open", created_at=at(8, 16, 0))
Message.objects.create(ticket=far_open, sender="customer", content="Do you deliver?", created_at=at(8, 16, 0, 3))

ActivityLog.objects.create(user=boss, action="login", timestamp=at(8, 17, 0), details="{}")

# The Talkha agent left: their login goes, and Django sets their tickets' agent to NULL.
gone.user.delete()

print(
    json.dumps(
        {
            "old_password_user": "agent_toriel",
            "old_password": OLD_PASSWORD,
            "body": BODY,
            "duration_ms": DURATION // timedelta(milliseconds=1),
            "duration_stored": DURATION // timedelta(microseconds=1),
            "open_tickets": sorted([open_ahmed.id, pending.id, orphan.id, far_open.id]),
            "spellings": spellings,
        },
        ensure_ascii=False,
    )
)
