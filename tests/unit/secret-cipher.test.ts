import { randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import { KMSClient } from "@aws-sdk/client-kms";
import { describe, expect, it } from "vitest";
import { kmsKeys, localKeys, open, seal } from "#core/secret/cipher.js";

const context = { tenantId: "11111111-1111-4111-8111-111111111111", name: "DB" };

type Sent = { target: string; body: Record<string, unknown> };

/**
 * The real KMS client with a request handler in place of the network (no KMS emulator exists):
 * what it sends is the real request shape; the handler answers as KMS does, a data key it keeps.
 */
function fakeKms() {
  const sent: Sent[] = [];
  const dataKey = randomBytes(32);
  const wrapped = Buffer.concat([Buffer.from("wrapped:"), dataKey]);
  const kms = new KMSClient({
    region: "us-east-1",
    credentials: { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "secret" },
    requestHandler: {
      handle: async (request: { headers: Record<string, string>; body: string | Uint8Array }) => {
        const target = request.headers["x-amz-target"] ?? "";
        const body = JSON.parse(Buffer.from(request.body).toString("utf8")) as Record<string, unknown>;
        sent.push({ target, body });
        const answer = target.endsWith("GenerateDataKey")
          ? {
              KeyId: "arn:aws:kms:us-east-1:111122223333:key/k",
              Plaintext: dataKey.toString("base64"),
              CiphertextBlob: wrapped.toString("base64"),
            }
          : { KeyId: "arn:aws:kms:us-east-1:111122223333:key/k", Plaintext: dataKey.toString("base64") };
        return {
          response: {
            statusCode: 200,
            headers: { "content-type": "application/x-amz-json-1.1" },
            body: Readable.from([Buffer.from(JSON.stringify(answer))]),
          },
        };
      },
    } as never,
  });
  return { kms, sent, wrapped };
}

describe("secret sealing", () => {
  it("opens what it sealed with the local key, bound to tenant and name", async () => {
    const keys = localKeys(randomBytes(32));
    const sealed = await seal(keys, '{"password":"x"}', context);
    expect(sealed.data).not.toContain("password");
    expect(await open(keys, sealed, context)).toBe('{"password":"x"}');
    await expect(open(keys, sealed, { ...context, name: "OTHER" })).rejects.toThrow(/does not open/);
    await expect(
      open(keys, sealed, { ...context, tenantId: "22222222-2222-4222-8222-222222222222" }),
    ).rejects.toThrow(/does not open/);
    await expect(open(localKeys(randomBytes(32)), sealed, context)).rejects.toThrow(
      /sealed with another key/,
    );
  });

  it("uses KMS envelope encryption: GenerateDataKey to seal, Decrypt to open, with the encryption context", async () => {
    const { kms, sent, wrapped } = fakeKms();
    const keys = kmsKeys(kms, "alias/drover-secrets");
    const sealed = await seal(keys, '"tok"', context);
    expect(sealed.key).toEqual({
      kind: "kms",
      id: "arn:aws:kms:us-east-1:111122223333:key/k",
      wrapped: wrapped.toString("base64"),
    });
    expect(await open(keys, sealed, context)).toBe('"tok"');
    const encryptionContext = { drover_tenant_id: context.tenantId, drover_secret: "DB" };
    expect(sent).toEqual([
      {
        target: "TrentService.GenerateDataKey",
        body: { KeyId: "alias/drover-secrets", KeySpec: "AES_256", EncryptionContext: encryptionContext },
      },
      {
        target: "TrentService.Decrypt",
        body: {
          KeyId: "arn:aws:kms:us-east-1:111122223333:key/k",
          CiphertextBlob: wrapped.toString("base64"),
          EncryptionContext: encryptionContext,
        },
      },
    ]);
  });
});
