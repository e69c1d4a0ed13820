"""Drives an aviary server with the official `openai` Python client.

Usage: python openai_client.py BASE_URL MODEL API_KEY
Exits non-zero (with the failing check) on any mismatch; prints a summary line when all pass.
"""

import sys

import openai


def main() -> None:
    base_url, model, api_key = sys.argv[1], sys.argv[2], sys.argv[3]
    client = openai.OpenAI(base_url=base_url, api_key=api_key, max_retries=0, timeout=120)
    checks = 0

    ids = [m.id for m in client.models.list().data]
    assert model in ids, ids
    checks += 1

    chat = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "Hello, who are you?"}], max_tokens=12, seed=1, temperature=0.7
    )
    choice = chat.choices[0]
    assert choice.message.role == "assistant", choice
    assert isinstance(choice.message.content, str)
    assert choice.finish_reason in ("stop", "length"), choice.finish_reason
    assert chat.usage.prompt_tokens > 0 and chat.usage.completion_tokens <= 12, chat.usage
    assert chat.usage.total_tokens == chat.usage.prompt_tokens + chat.usage.completion_tokens
    checks += 1

    stream = client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": "Hello, who are you?"}],
        max_tokens=12,
        seed=1,
        temperature=0.7,
        stream=True,
        stream_options={"include_usage": True},
    )
    text, usage, finish = "", None, None
    for chunk in stream:
        if chunk.usage is not None:
            usage = chunk.usage
        for c in chunk.choices:
            text += c.delta.content or ""
            finish = c.finish_reason or finish
    assert text == choice.message.content, (text, choice.message.content)
    assert finish == choice.finish_reason, finish
    assert usage is not None and usage.completion_tokens == chat.usage.completion_tokens, usage
    checks += 1

    comp = client.completions.create(model=model, prompt="Once upon a time", max_tokens=10, seed=3, temperature=0.8)
    assert comp.choices[0].finish_reason in ("stop", "length")
    streamed = "".join(
        c.choices[0].text
        for c in client.completions.create(
            model=model, prompt="Once upon a time", max_tokens=10, seed=3, temperature=0.8, stream=True
        )
        if c.choices
    )
    assert streamed == comp.choices[0].text, (streamed, comp.choices[0].text)
    checks += 1

    many = client.completions.create(model=model, prompt="Pick", max_tokens=4, n=2, seed=5, logprobs=2)
    assert [c.index for c in many.choices] == [0, 1]
    assert all(lp <= 0 for lp in many.choices[0].logprobs.token_logprobs)
    checks += 1

    try:
        client.chat.completions.create(model="no-such-model", messages=[{"role": "user", "content": "x"}])
        raise AssertionError("unknown model was accepted")
    except openai.NotFoundError as e:
        assert e.status_code == 404 and "no-such-model" in str(e), e
    checks += 1

    try:
        client.chat.completions.create(model=model, messages=[{"role": "user", "content": "x"}], temperature=-1)
        raise AssertionError("negative temperature was accepted")
    except openai.BadRequestError as e:
        assert e.status_code == 400 and e.body["param"] == "temperature", e.body
    checks += 1

    bad_key = openai.OpenAI(base_url=base_url, api_key="wrong", max_retries=0)
    try:
        bad_key.models.list()
        raise AssertionError("a wrong API key was accepted")
    except openai.AuthenticationError as e:
        assert e.status_code == 401, e
    checks += 1

    print(f"openai {openai.__version__}: {checks} passed, 0 failed")


if __name__ == "__main__":
    main()
