"""The web part: request context and logs, problems, auth, health, OpenAPI, running an app.

Every HTTP process uses it: the services, the gateway, the web front end.
"""
