"""Encrypted-at-rest secret field that fails loudly.

django-encrypted-model-fields returns the ciphertext when decryption fails (wrong or rotated-away
key). For secrets that would mean signing with garbage, so this field raises instead.
"""

from __future__ import annotations

import cryptography.fernet
from django.db import models
from encrypted_model_fields import fields as emf


class SecretDecryptionError(RuntimeError):
    """A stored secret could not be decrypted with any configured FIELD_ENCRYPTION_KEY."""


class EncryptedSecretField(models.TextField):
    description = "A secret, Fernet-encrypted at rest; decryption failures raise"

    def from_db_value(self, value, expression, connection):
        if value is None or value == "":
            return value
        try:
            return emf.decrypt_str(value)
        except cryptography.fernet.InvalidToken as exc:
            raise SecretDecryptionError(
                f"{self.model.__name__}.{self.name} could not be decrypted: FIELD_ENCRYPTION_KEY does not "
                "hold the key it was encrypted with (add the old key after the new one to rotate)."
            ) from exc

    def get_db_prep_save(self, value, connection):
        value = super().get_db_prep_save(value, connection)
        if value is None or value == "":
            return value
        return emf.encrypt_str(str(value)).decode("utf-8")
