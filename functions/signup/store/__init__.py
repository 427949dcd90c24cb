"""Storage in Firestore: sessions, registrations and seats, and personal data leaving on time."""
