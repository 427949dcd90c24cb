# The functions' images. Cloud Build pushes each function's image here, and Cloud Run runs it from here. A
# repository of our own rather than the `gcf-artifacts` one that Cloud Functions would otherwise make, so that the
# build account may write to this repository and to no other (iam.tf).

resource "google_artifact_registry_repository" "functions" {
  #checkov:skip=CKV_GCP_84:Holds only images built from the repository's own code: no personal data, no secrets; Google-managed encryption suffices.
  repository_id = "signup-functions"
  location      = var.region
  format        = "DOCKER"
  description   = "signup: the images of register, notify and notify-tick, built from the source archive"

  depends_on = [google_project_service.apis]
}
