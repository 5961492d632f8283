"""Channel, customer and model-stub fixtures shared by the automation and AI tests."""

from tests.ai_personas.fixtures import *  # noqa: F403
