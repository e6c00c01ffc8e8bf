"""Forewarn's web app: accessible pages in GOV.UK Frontend style, and every page as JSON under ``/api/v1``.

Build one with :func:`forewarn.web.app.create_app`; serve it with :func:`forewarn.web.server.serve`.
"""
