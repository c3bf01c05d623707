import { createCipheriv, createDecipheriv, createHash, randomBytes } from "node:crypto";
import { DecryptCommand, GenerateDataKeyCommand, type KMSClient } from "@aws-sdk/client-kms";

/**
 * How secret values are encrypted at rest: AES-256-GCM, with the tenant and the secret's name as
 * additional authenticated data (a sealed value copied to another workspace or name does not
 * open). The key comes from a `KeyProvider`:
 * - local (`npm start`): one 256-bit key kept in the data folder (`secrets.key`, mode 0600);
 * - AWS: envelope encryption with KMS, a data key per write (`GenerateDataKey`) stored wrapped
 *   beside the value and unwrapped per read (`Decrypt`), both bound to the same encryption context.
 */
export type SealedSecret = {
  v: 1;
  /** Which key sealed it: the local key's fingerprint, or the KMS key id. */
  key: { kind: "local"; fingerprint: string } | { kind: "kms"; id: string; wrapped: string };
  iv: string;
  tag: string;
  data: string;
};

export type SecretContext = { tenantId: string; name: string };

type DataKey = { plaintext: Buffer; ref: SealedSecret["key"] };

export interface KeyProvider {
  dataKey(context: SecretContext): Promise<DataKey>;
  unwrap(ref: SealedSecret["key"], context: SecretContext): Promise<Buffer>;
}

const aad = (context: SecretContext) => Buffer.from(JSON.stringify([context.tenantId, context.name]), "utf8");

export async function seal(
  keys: KeyProvider,
  plaintext: string,
  context: SecretContext,
): Promise<SealedSecret> {
  const { plaintext: key, ref } = await keys.dataKey(context);
  const iv = randomBytes(12);
  const cipher = createCipheriv("aes-256-gcm", key, iv);
  cipher.setAAD(aad(context));
  const data = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final()]);
  return {
    v: 1,
    key: ref,
    iv: iv.toString("base64"),
    tag: cipher.getAuthTag().toString("base64"),
    data: data.toString("base64"),
  };
}

export class SecretKeyMismatchError extends Error {}

export async function open(keys: KeyProvider, sealed: SealedSecret, context: SecretContext): Promise<string> {
  const key = await keys.unwrap(sealed.key, context);
  const decipher = createDecipheriv("aes-256-gcm", key, Buffer.from(sealed.iv, "base64"));
  decipher.setAAD(aad(context));
  decipher.setAuthTag(Buffer.from(sealed.tag, "base64"));
  try {
    return Buffer.concat([decipher.update(Buffer.from(sealed.data, "base64")), decipher.final()]).toString(
      "utf8",
    );
  } catch (cause) {
    throw new SecretKeyMismatchError("the secret's value does not open with its key (tampered or moved)", {
      cause,
    });
  }
}

/** The local key: AES-256-GCM directly under it; its fingerprint tells a wrong key file apart. */
export function localKeys(key: Buffer): KeyProvider {
  if (key.length !== 32) throw new Error("the local secrets key must be 32 bytes");
  const fingerprint = createHash("sha256").update(key).digest("hex").slice(0, 16);
  return {
    async dataKey() {
      return { plaintext: key, ref: { kind: "local", fingerprint } };
    },
    async unwrap(ref) {
      if (ref.kind !== "local" || ref.fingerprint !== fingerprint) {
        throw new SecretKeyMismatchError(
          `the secret was sealed with another key (${ref.kind === "local" ? `local key ${ref.fingerprint}` : `KMS key ${ref.id}`}); this process has local key ${fingerprint}`,
        );
      }
      return key;
    },
  };
}

/** KMS envelope encryption under `keyId`, with the tenant and name as encryption context. */
export function kmsKeys(kms: Pick<KMSClient, "send">, keyId: string): KeyProvider {
  const encryptionContext = (context: SecretContext) => ({
    drover_tenant_id: context.tenantId,
    drover_secret: context.name,
  });
  return {
    async dataKey(context) {
      const result = await kms.send(
        new GenerateDataKeyCommand({
          KeyId: keyId,
          KeySpec: "AES_256",
          EncryptionContext: encryptionContext(context),
        }),
      );
      if (!result.Plaintext || !result.CiphertextBlob) throw new Error("KMS GenerateDataKey returned no key");
      return {
        plaintext: Buffer.from(result.Plaintext),
        ref: {
          kind: "kms",
          id: result.KeyId ?? keyId,
          wrapped: Buffer.from(result.CiphertextBlob).toString("base64"),
        },
      };
    },
    async unwrap(ref, context) {
      if (ref.kind !== "kms")
        throw new SecretKeyMismatchError("the secret was sealed with a local key, not KMS");
      const result = await kms.send(
        new DecryptCommand({
          KeyId: ref.id,
          CiphertextBlob: Buffer.from(ref.wrapped, "base64"),
          EncryptionContext: encryptionContext(context),
        }),
      );
      if (!result.Plaintext) throw new Error("KMS Decrypt returned no key");
      return Buffer.from(result.Plaintext);
    },
  };
}
