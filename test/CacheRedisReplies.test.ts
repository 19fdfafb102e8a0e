/**
 * The classification of a Redis failure: a reply about one key (`WRONGTYPE`, also raised inside a script, in the
 * forms of Redis 7 and of Redis 6) against the store failing (the client's own errors, replies about the server).
 */
import { ReplyError } from "ioredis"
import { describe, expect, it } from "vitest"
import * as Replies from "../src/Cache/internal/redisReplies.js"

const wrongType = "WRONGTYPE Operation against a key holding the wrong kind of value"
const sha = "24272425b3215bb485d8f59aab8a6003d67dfff3"
const reply = (message: string): Error => new ReplyError(message)

/** [what, the failure, the key's reply code or undefined when it is the store failing]. */
const table: ReadonlyArray<readonly [string, unknown, string | undefined]> = [
  ["GET of a hash", reply(wrongType), "WRONGTYPE"],
  ["a script's redis.call, Redis 7", reply(`${wrongType} script: ${sha}, on @user_script:8.`), "WRONGTYPE"],
  [
    "a script's redis.call, Redis 6",
    reply(`ERR Error running script (call to f_${sha}): @user_script:8: ${wrongType}`),
    "WRONGTYPE"
  ],
  [
    "a script out of memory, Redis 6",
    reply(`ERR Error running script (call to f_${sha}): @user_script:8: OOM command not allowed`),
    undefined
  ],
  ["out of memory", reply("OOM command not allowed when used memory > 'maxmemory'."), undefined],
  ["a script out of memory, Redis 7", reply(`OOM command not allowed script: ${sha}, on @user_script:8.`), undefined],
  ["a read-only replica", reply("READONLY You can't write against a read only replica."), undefined],
  ["no authentication", reply("NOAUTH Authentication required."), undefined],
  ["loading the dataset", reply("LOADING Redis is loading the dataset in memory"), undefined],
  ["snapshots failing", reply("MISCONF Redis is configured to save RDB snapshots, but it's failing"), undefined],
  ["a script not loaded", reply("NOSCRIPT No matching script. Please use EVAL."), undefined],
  ["a busy script", reply("BUSY Redis is busy running a script."), undefined],
  ["a generic error", reply("ERR unknown command 'GETX'"), undefined],
  ["a code alone", reply("WRONGTYPE"), "WRONGTYPE"],
  ["a code glued to text", reply("WRONGTYPEX key"), undefined],
  ["the client's error with the same words", new Error(wrongType), undefined],
  ["a closed connection", new Error("Connection is closed."), undefined],
  ["no offline queue", new Error("Stream isn't writeable and enableOfflineQueue options is false"), undefined],
  ["the client's command timeout", new Error("Command timed out"), undefined],
  ["the operation's timeout", "timed out", undefined],
  ["nothing", undefined, undefined]
]

describe("Redis replies", () => {
  it.each(table)("%s", (_what, cause, code) => {
    const problem = Replies.keyProblem(cause, ReplyError)
    expect(problem?.code).toBe(code)
    if (problem !== undefined) {
      expect(problem.reason).toBe("WRONGTYPE: the key holds a Redis type other than a string")
      expect(Replies.isKeyReplyError(problem)).toBe(true)
    }
  })
})
