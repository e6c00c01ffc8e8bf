"""Soft measures: survey instruments as versioned data, anonymous collection in waves, and scored results.

``instrument`` loads and checks questionnaire definitions; ``waves``, ``tokens``, ``responses`` and ``uploads``
collect answers; ``privacy`` holds the suppression rules every output goes through; ``results`` scores and
aggregates a wave through :mod:`forewarn.stats` for the command line now and the web app later.
"""
