"""Single sign-on through OpenID Connect providers (Google, Microsoft, the local simulator):
a person signs in at the provider and identity exchanges the code for who they are."""
