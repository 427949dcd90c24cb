output "register_url" {
  description = "`register`'s public address (PUBLIC_BASE_URL of both functions)."
  value       = local.public_base_url
}

output "form_url" {
  description = "The sign-up form of a session: replace SESSION_ID by the id of its document under sessions/."
  value       = "${local.public_base_url}/sessions/SESSION_ID"
}

output "embed_snippet" {
  description = "What a website puts where the form should appear (replace SESSION_ID; list the site's origin in the session's allowed_origins)."
  value       = <<-EOT
    <script src="${local.public_base_url}/embed.js" data-session="SESSION_ID" async></script>
    <noscript><a href="${local.public_base_url}/sessions/SESSION_ID">Aanmelden / Sign up</a></noscript>
  EOT
}

output "firestore_console_url" {
  description = "Where organisers create sessions and read registrations."
  value       = "https://console.cloud.google.com/firestore/databases/-default-/data/panel/sessions?project=${var.project}"
}

output "organise_url" {
  description = "The organisers' page: sign in there with an address in `organisers`, or a session's organiser.email."
  value       = local.organise_url
}
