"""Test doubles that are real processes speaking the real protocol.

openai_script.py      what a test tells the fake OpenAI server to answer, and helpers to write it
openai_server.py      the fake OpenAI server: POST /v1/chat/completions streamed as real servers do
openai_validation.py  the requests it refuses, as OpenAI refuses them (400)
openai_fixture.py     the ``fake_openai`` fixture: the server as a subprocess and a handle on it
"""
