// Every failure the portal shows is one sentence that says what happened and what to do: never a
// stack trace or a raw RPC error. Chain errors are named by the runtime's own metadata (the pallet
// error's doc comment), the node's `phr_` refusals by their code.

/** An error whose message is meant for the user as it is. */
export class UserError extends Error {}

const DENIALS: Record<string, string> = {
  UnknownRecord: 'this record does not exist (it may not be final yet: try again in a few seconds)',
  Erased: 'the patient erased this record',
  Unregistered: 'your account is not registered with the consortium: ask a hospital admin to register you',
  NoGrant: 'no grant covers this record: ask the patient to share it with you',
  RightNotGranted: 'your grant does not include reading: ask the patient for read access',
  OutOfScope: "this record is outside what the patient's grant covers: ask the patient to share it",
  Expired: 'your access to this record has expired: ask the patient to renew it',
  OutsideTimeWindow: 'your grant only allows reading at other hours of the day',
  WrongFacility: 'your grant only allows reading from another facility',
  NoEmergencyAccess: 'there is no open emergency access by you for this patient: open one first (it is audited)',
  EmergencyExpired: 'your emergency access has ended: open a new one if the emergency continues',
  NotResearcher: 'research reads need the researcher role',
  NoConsent: "the patient's consent does not cover this research purpose",
};

/** A sentence for a `phr_` refusal (code and message as the node sent them). */
export function blobError(code: number, message: string, data?: string): string {
  if (code === 4007) {
    const name = (data ?? message.replace(/^access denied: /, '')).replace(/\(.*$/, '').trim();
    return `Refused: ${DENIALS[name] ?? `access denied (${name})`}.`;
  }
  const byCode: Record<number, string> = {
    4001: "the node does not accept this browser's request key: register your keys on the Account page (or rotate them again)",
    4002: "the request expired on the way: check this computer's clock and try again",
    4003: 'the request was already used: try again',
    4004: `the file is too large for this node (${message})`,
    4006: 'the record is not final on chain yet: try again in a few seconds',
    4008: 'the patient erased this record; it is never served again',
    4010: 'the node does not hold this ciphertext yet (it is still replicating): try again shortly, or through another hospital',
    4011: 'the node is busy with other uploads of yours: wait for them to finish and try again',
    4013: 'the node belongs to another chain: choose a node of this consortium',
    4014: 'the request was signed for another node: reload the page and try again',
    4015: 'your keys changed meanwhile: reload the page and try again',
    4016: `not allowed: ${message.replace(/^not allowed: /, '')}`,
  };
  return `Refused: ${byCode[code] ?? message}.`;
}

const POOL: Record<number, string> = {
  1: 'your account is not registered with the consortium: ask a hospital admin to onboard you (patients) or register you (staff)',
  3: 'your hospital offboarded you: you can still revoke grants and erase records; ask a member hospital to onboard you again for anything else',
};

/** A sentence for whatever an RPC call or a transaction threw. */
export function describe(error: unknown): string {
  if (error instanceof UserError) return error.message;
  const text = error instanceof Error ? error.message : String(error);
  const custom = /Custom error: (\d+)/.exec(text);
  if (custom) return `Refused by the chain: ${POOL[Number(custom[1])] ?? `transaction error ${custom[1]}`}.`;
  if (/Priority is too low|already imported/i.test(text)) return 'A transaction of yours is still pending: wait a few seconds and try again.';
  if (/disconnected|WebSocket|ECONNREFUSED|Unable to connect/i.test(text)) return 'The node cannot be reached: check that it runs, or choose another hospital node.';
  if (error instanceof Error && error.name === 'CryptoError') return `${text[0].toUpperCase()}${text.slice(1)}.`;
  return `Something went wrong: ${text.split('\n')[0].slice(0, 200)}`;
}
