"""The agent API's fixtures (a scripted model, the HTTP app, the agent API's client), for the guardian's chat."""

from tests.agent.conftest import agent_settings, api_for, base_url, llm  # noqa: F401 (pytest fixtures)
