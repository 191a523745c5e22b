"""The build side: the hook decides (plan), trains or verifies through the project's callables (steps,
project), gates the result (gates) and records it (lock, card).

Import direction: hook -> plan/steps -> fingerprint, gates, lock, card, project -> the model's callables,
which are reached only through `importlib` by the names in the hook's config, never imported here.
"""
