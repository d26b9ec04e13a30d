"""The agents this service ships, written with the agent SDK like any team's.

analyst.py  the built-in infrastructure analyst (deterministic: a planner over sample metrics)
llm.py      an agent on any OpenAI-compatible Chat Completions endpoint (LLM_BASE_URL)
agui.py     an agent that is any AG-UI 1.0 server (AGUI_AGENTS); agui_*.py beside it: its wire
            shapes, its event reader (no I/O), its HTTP client, its errors
"""
