"""A minimal copy of the old system's models (app `conversations`), as the seed document
(/work/shared/seed/khalifa-system-architecture.txt, sections 2 and 9) describes them: enough for
Django's own `migrate` to create the tables the switch-over import reads, with Django's types
(DurationField, FileField, microsecond DateTimeFields)."""

from django.contrib.auth.models import User
from django.db import models
from django.utils import timezone


class Agent(models.Model):
    user = models.OneToOneField(User, on_delete=models.CASCADE)
    branch = models.CharField(max_length=100)
    is_online = models.BooleanField(default=False)
    response_time = models.FloatField(default=0)
    rating = models.FloatField(default=0)


class Admin(models.Model):
    user = models.OneToOneField(User, on_delete=models.CASCADE)
    department = models.CharField(max_length=100, blank=True)
    permissions = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)


class Customer(models.Model):
    phone = models.CharField(max_length=20)
    name = models.CharField(max_length=200)
    email = models.EmailField(null=True, blank=True)
    tags = models.TextField(blank=True)
    satisfaction = models.FloatField(null=True, blank=True)
    source = models.CharField(max_length=50, default="whatsapp")
    created_at = models.DateTimeField(default=timezone.now)


class CustomerTag(models.Model):
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE)
    tag_name = models.CharField(max_length=50)
    created_at = models.DateTimeField(default=timezone.now)


class CustomerNote(models.Model):
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE)
    agent = models.ForeignKey(Agent, null=True, on_delete=models.SET_NULL)
    note_content = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)


class Ticket(models.Model):
    STATUSES = [("open", "Open"), ("pending", "Pending"), ("closed", "Closed")]
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE)
    agent = models.ForeignKey(Agent, null=True, blank=True, on_delete=models.SET_NULL)
    status = models.CharField(max_length=20, choices=STATUSES, default="open")
    priority = models.CharField(max_length=20, default="normal")
    created_at = models.DateTimeField(default=timezone.now)
    closed_at = models.DateTimeField(null=True, blank=True)


class TicketStateLog(models.Model):
    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE)
    old_status = models.CharField(max_length=20, null=True)
    new_status = models.CharField(max_length=20)
    changed_by = models.ForeignKey(User, null=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(default=timezone.now)


class Message(models.Model):
    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE)
    sender = models.CharField(max_length=20)
    content = models.TextField(blank=True)
    message_type = models.CharField(max_length=20, default="text")
    created_at = models.DateTimeField(default=timezone.now)
    status = models.CharField(max_length=20, default="sent")
    media_file = models.FileField(upload_to="messages/", null=True, blank=True)
    whatsapp_message_id = models.CharField(max_length=100, null=True, blank=True)


class ResponseTimeTracking(models.Model):
    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE)
    agent = models.ForeignKey(Agent, on_delete=models.CASCADE)
    customer_message_time = models.DateTimeField(null=True, blank=True)
    agent_response_time = models.DateTimeField(null=True, blank=True)
    response_time = models.DurationField(null=True, blank=True)
    is_first_response = models.BooleanField(default=False)


class CustomerSatisfaction(models.Model):
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE)
    ticket = models.ForeignKey(Ticket, null=True, on_delete=models.SET_NULL)
    agent = models.ForeignKey(Agent, null=True, on_delete=models.SET_NULL)
    rating = models.IntegerField()
    comment = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)


class ActivityLog(models.Model):
    user = models.ForeignKey(User, null=True, on_delete=models.SET_NULL)
    action = models.CharField(max_length=100)
    timestamp = models.DateTimeField(default=timezone.now)
    details = models.TextField(blank=True)
