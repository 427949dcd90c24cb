# How visitors reach `register`, as one decision: the way in (`trusted_proxy_hops`), the ingress that goes with it,
# and the address visitors use (PUBLIC_BASE_URL). Locals over variables only: tests/test_infra.py has Terraform itself
# evaluate them for each way in (docs/deployment.md, "Behind a load balancer").

locals {
  # The function's own address, written out rather than read from the function: `register` needs its address in its
  # own environment, and reading the function's `url` attribute there would be a dependency cycle.
  function_url = "https://${var.region}-${var.project}.cloudfunctions.net/${local.register_name}"

  # PUBLIC_BASE_URL of every function, and the outputs: the function's own address, or the balancer's in front of it.
  public_base_url = var.public_base_url == null ? local.function_url : trimsuffix(var.public_base_url, "/")

  # Reached at its own address (no proxy hops), `register` takes requests from anywhere; behind a load balancer only
  # through it (and from inside the project), so that nobody calls the function's own address around the balancer
  # with an X-Forwarded-For of their own, choosing their rate-limit key.
  register_ingress = coalesce(var.register_ingress, var.trusted_proxy_hops > 0 ? "ALLOW_INTERNAL_AND_GCLB" : "ALLOW_ALL")
}
