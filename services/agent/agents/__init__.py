"""The agents this service ships, written with the agent SDK like any team's.

analyst.py  the built-in infrastructure analyst (deterministic: a planner over sample metrics)
llm.py      an agent on any OpenAI-compatible Chat Completions endpoint (LLM_BASE_URL)
"""
