from __future__ import annotations

from django.contrib.postgres.fields import ArrayField
from django.db import models
from pgvector.django import VectorField

from core.fields import EncryptedTextField

# Dimensions that get an HNSW index (the vector column has no fixed size; each size has its partial index).
INDEXED_DIMENSIONS = (384, 768, 1024, 1536)


class AIProvider(models.Model):
    """A company's account with a model provider; the key is stored encrypted."""

    class Kind(models.TextChoices):
        OPENAI = "openai", "OpenAI-compatible"
        GEMINI = "gemini", "Google Gemini"

    name = models.CharField(max_length=80)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    base_url = models.URLField(blank=True, help_text="Empty for the provider's default endpoint")
    api_key = EncryptedTextField(blank=True, default="")
    timeout_s = models.FloatField(default=20)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class KnowledgeBase(models.Model):
    class Embedder(models.TextChoices):
        LOCAL = "local", "Local MiniLM (offline, 384 dims)"
        OPENAI = "openai", "OpenAI-compatible embeddings"
        GEMINI = "gemini", "Gemini embeddings"

    name = models.CharField(max_length=120)
    embedder = models.CharField(max_length=10, choices=Embedder.choices, default=Embedder.LOCAL)
    provider = models.ForeignKey(
        AIProvider, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    embedding_model = models.CharField(max_length=120, blank=True)
    dimensions = models.PositiveIntegerField(
        null=True, blank=True, help_text="Recorded at the first embedding"
    )
    chunk_size = models.PositiveIntegerField(default=800, help_text="Characters per chunk")
    chunk_overlap = models.PositiveIntegerField(default=150)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Document(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"

    knowledge_base = models.ForeignKey(KnowledgeBase, on_delete=models.CASCADE, related_name="documents")
    title = models.CharField(max_length=200)
    file = models.FileField(upload_to="knowledge/%Y/%m/", blank=True)
    content_type = models.CharField(max_length=10, help_text="txt, md, html, csv or pdf")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    error = models.TextField(blank=True)
    chunk_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.title


class Chunk(models.Model):
    knowledge_base = models.ForeignKey(KnowledgeBase, on_delete=models.CASCADE, related_name="chunks")
    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="chunks")
    position = models.PositiveIntegerField()
    text = models.TextField()
    dimensions = models.PositiveIntegerField()
    embedding = VectorField()

    class Meta:
        ordering = ["document", "position"]
        indexes = [models.Index(fields=["knowledge_base", "dimensions"], name="chunk_kb_dims")]

    def __str__(self) -> str:
        return self.text[:60]


class Persona(models.Model):
    name = models.CharField(max_length=80)
    provider = models.ForeignKey(AIProvider, on_delete=models.PROTECT, related_name="personas")
    model = models.CharField(max_length=120)
    system_prompt = models.TextField(blank=True)
    temperature = models.FloatField(default=0.3)
    max_tokens = models.PositiveIntegerField(default=400)
    language = models.CharField(max_length=20, blank=True, help_text="Answer in this language, e.g. en, es")
    channels = models.ManyToManyField("channels_wa.Channel", blank=True, related_name="+")
    departments = models.ManyToManyField("accounts.Department", blank=True, related_name="+")
    knowledge_bases = models.ManyToManyField(KnowledgeBase, blank=True, related_name="personas")
    top_k = models.PositiveSmallIntegerField(default=4)
    score_threshold = models.FloatField(default=0.3, help_text="Minimum cosine similarity of a chunk")
    history_messages = models.PositiveSmallIntegerField(default=10)
    handoff_keywords = ArrayField(
        models.CharField(max_length=60), default=list, blank=True, help_text="e.g. human, agent"
    )
    handoff_on_unknown = models.BooleanField(
        default=True, help_text="Hand over when the model says it does not know"
    )
    max_ai_turns = models.PositiveSmallIntegerField(default=10)
    handoff_message = models.TextField(blank=True, default="Let me connect you with a member of our team.")
    handoff_department = models.ForeignKey(
        "accounts.Department", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class AISettings(models.Model):
    """One row per company."""

    monthly_token_budget = models.PositiveBigIntegerField(default=1_000_000, help_text="0 means no AI")

    class Meta:
        verbose_name_plural = "AI settings"

    def __str__(self) -> str:
        return f"AI budget {self.monthly_token_budget} tokens a month"


class AIUsageMonth(models.Model):
    month = models.DateField(unique=True, help_text="First day of the month")
    prompt_tokens = models.PositiveBigIntegerField(default=0)
    completion_tokens = models.PositiveBigIntegerField(default=0)
    replies = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.month:%Y-%m}: {self.total_tokens} tokens"

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


class ConversationAI(models.Model):
    """Whether a persona is handling a conversation; an agent takes over (the AI stops) and gives it back."""

    conversation = models.OneToOneField("inbox.Conversation", on_delete=models.CASCADE, related_name="ai")
    persona = models.ForeignKey(Persona, on_delete=models.CASCADE, related_name="+")
    is_active = models.BooleanField(default=True)
    ai_turns = models.PositiveIntegerField(default=0)
    handoff_reason = models.CharField(max_length=200, blank=True)
    changed_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.persona} on {self.conversation_id}"


class AIReply(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENT = "sent", "Sent"
        HANDOFF = "handoff", "Handed over"
        FAILED = "failed", "Failed"
        SKIPPED = "skipped", "Skipped"

    conversation = models.ForeignKey(
        "inbox.Conversation", on_delete=models.CASCADE, related_name="ai_replies"
    )
    persona = models.ForeignKey(Persona, on_delete=models.CASCADE, related_name="replies")
    inbound_message = models.OneToOneField("inbox.Message", on_delete=models.CASCADE, related_name="ai_reply")
    message = models.ForeignKey(
        "inbox.Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    answer = models.TextField(blank=True)
    chunks = models.ManyToManyField(Chunk, blank=True, related_name="+")
    chunk_scores = models.JSONField(default=dict, blank=True, help_text="chunk id → cosine similarity")
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    attempts = models.PositiveSmallIntegerField(default=0)
    model_latency_ms = models.PositiveIntegerField(null=True, blank=True)
    overhead_ms = models.PositiveIntegerField(
        null=True, blank=True, help_text="Reply path time around the model"
    )
    handoff_reason = models.CharField(max_length=200, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.status} reply on {self.conversation_id}"
