/**
 * Password.verify of the other passlib schemes the Python services store: pbkdf2_sha1, pbkdf2_sha512, sha256_crypt,
 * sha512_crypt and bcrypt_sha256 (v1 and v2), with passlib's published vectors, and the hostile or malformed forms
 * that fail as InvalidPasswordHash before work.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as crypto from "node:crypto"
import * as HashThreads from "../src/Http/internal/hashThreads.js"
import * as ShaCrypt from "../src/Http/internal/shaCrypt.js"
import * as Password from "../src/Http/Password.js"
import { expectUnusable, expectVectors, loopTurnsDuring, outcome } from "./support/passwordChecks.js"

// passlib's test passwords (passlib/tests/test_handlers.py).
const UPASS_WAV = "\u0399\u03c9\u03b1\u03bd\u03bd\u03b7\u03c2"
const UPASS_TABLE = "t\u00e1\u0411\u2113\u0259"

// passlib 1.7.4 passlib/tests/test_handlers_pbkdf2.py: pbkdf2_sha1_test, pbkdf2_sha512_test.
const pbkdf2Vectors: ReadonlyArray<readonly [string, string]> = [
  ["password", "$pbkdf2$1212$OB.dtnSEXZK8U5cgxU/GYQ$y5LKPOplRmok7CZp/aqVDVg8zGI"],
  [UPASS_WAV, "$pbkdf2$1212$THDqatpidANpadlLeTeOEg$HV3oi1k5C5LQCgG1BMOL.BX4YZc"],
  [
    "password",
    "$pbkdf2-sha512$1212$RHY0Fr3IDMSVO/RSZyb5ow$eNLfBK.eVozomMr.1gYa17k9B7KIK25NOEshvhrSX.esqY3s.FvWZViXz4KoLlQI." +
    "BzY/YTNJOiKc5gBYFYGww"
  ],
  [
    UPASS_WAV,
    "$pbkdf2-sha512$1212$KkbvoKGsAIcF8IslDR6skQ$8be/PRmd88Ps8fmPowCJttH9G3vgxpG.Krjt3KT.NP6cKJ0V4Prarqf.HBwz0dCkJ6x" +
    "gWnSj2ynXSV7MlvMa8Q"
  ]
]

// passlib 1.7.4 passlib/tests/test_handlers.py: _sha256_crypt_test / _sha512_crypt_test known_correct_hashes (JTR
// 1.7.9 and passlib's own) and known_correct_configs (Drepper's SHA-crypt.txt, `rounds=` forms and the implicit
// 5000; a salt longer than 16 characters is cut to 16 there, so the hash carries 16).
const shaCryptVectors: ReadonlyArray<readonly [string, string]> = [
  ["U*U*U*U*", "$5$LKO/Ute40T3FNF95$U0prpBQd4PloSGU0pnpM4z9wKn4vZ1.jsrzQfPqxph9"],
  ["", "$5$kc7lRD1fpYg0g.IP$d7CMTcEqJyTXyeq8hTdu/jB/I6DGkoo62NXbHIR7S43"],
  ["test", "$5$rounds=11858$WH1ABM5sKhxbkgCK$aTQsjPkz0rBsH3lQlJxw9HDTDXPKBxC0LlVeV69P.t1"],
  ["with unic\u00d6de", "$5$rounds=1000$IbG0EuGQXw5EkMdP$LQ5AfPf13KufFsKtmazqnzSGZ4pxtUNw3woQ.ELRDF4"],
  ["Hello world!", "$5$saltstring$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5"],
  ["Hello world!", "$5$rounds=10000$saltstringsaltst$3xv.VbSHBb41AL9AvLeujZkZRBAwqFMz2.opqey6IcA"],
  ["This is just a test", "$5$rounds=5000$toolongsaltstrin$Un/5jzAHMgOGZ5.mWJpuVolil07guHPvOW8mGRcvxa5"],
  [
    "a very much longer text to encrypt.  This one even stretches over morethan one line.",
    "$5$rounds=1400$anotherlongsalts$Rx.j8H.h8HjEDGomFU8bDkXm3XIUnzyxf12oP84Bnq1"
  ],
  [
    "we have a short salt string but not a short password",
    "$5$rounds=77777$short$JiO1O3ZpDAxGJeaDIuqCoEFysAe1mZNJRs3pw0KQRd/"
  ],
  [
    "U*U*U*U*",
    "$6$LKO/Ute40T3FNF95$6S/6T2YuOIHY0N3XpLKABJ3soYcXD9mB7uVbtEZDj/LNscVhZoZ9DEH.sBciDrMsHOWOoASbNLTypH/5X26gN0"
  ],
  [
    "",
    "$6$ojWH1AiTee9x1peC$QVEnTvRVlPRhcLQCk/HnHaZmlGAAjCfrAN0FtOsOnUk5K5Bn/9eLHHiRzrTzaIKjW9NTLNIBUCtNVOowWS2mN."
  ],
  [
    UPASS_TABLE,
    "$6$rounds=40000$PEZTJDiyzV28M3.m$GTlnzfzGB44DGd1XqlmC4erAJKCP.rhvLvrYxiT38htrNzVGBnplFOHjejUGVrCfusGWxLQCc3p" +
    "FO0A/1jYYr0"
  ],
  [
    "Hello world!",
    "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1"
  ],
  [
    "Hello world!",
    "$6$rounds=10000$saltstringsaltst$OW1/O6BYHV6BcXZu8QVeXbDWra3Oeqh0sbHbbMCVNSnCM/UrjmM0Dp8vOuZeHBy/YTBmSK6H9qs/y3" +
    "RnOaw5v."
  ],
  [
    "a short string",
    "$6$rounds=123456$asaltof16chars..$BtCwjqMJGx5hrJhZywWvt0RLE8uZ4oPwcelCjmw2kSYu.Ec6ycULevoBK25fs2xXgMNrCzIMVcgEJA" +
    "stJeonj1"
  ],
  [
    "the minimum number is still observed",
    "$6$rounds=1000$roundstoolow$kUMsbe306n21p9R.FRkW3IGn.S9NPN0x50YhH1xhLsPuWGsUSklZt58jaTfF4ZEQpyUNGc0dqbpBYYBaHH" +
    "rsX."
  ]
]

// passlib 1.7.4 passlib/tests/test_handlers_bcrypt.py: _bcrypt_sha256_test known_correct_hashes, v1 and v2.
const abc72 = "abc123".repeat(12)
const bcryptSha256Vectors: ReadonlyArray<readonly [string, string]> = [
  ["", "$bcrypt-sha256$2a,5$E/e/2AOhqM5W/KJTFQzLce$F6dYSxOdAEoJZO2eoHUZWZljW/e0TXO"],
  ["password", "$bcrypt-sha256$2a,5$5Hg1DKFqPE8C2aflZ5vVoe$12BjNE0p7axMg55.Y/mHsYiVuFBDQyu"],
  [UPASS_TABLE, "$bcrypt-sha256$2b,5$.US1fQ4TQS.ZTz/uJ5Kyn.$QNdPDOTKKT5/sovNz1iWg26quOU4Pje"],
  [abc72 + "qwr", "$bcrypt-sha256$2b,5$X1g1nh3g0v4h6970O68cxe$021KLEif6epjot5yoxk0m8I0929ohEa"],
  ["", "$bcrypt-sha256$v=2,t=2b,r=5$E/e/2AOhqM5W/KJTFQzLce$WFPIZKtDDTriqWwlmRFfHiOTeheAZWe"],
  ["password", "$bcrypt-sha256$v=2,t=2b,r=5$5Hg1DKFqPE8C2aflZ5vVoe$wOK1VFFtS8IGTrGa7.h5fs0u84qyPbS"],
  [UPASS_TABLE, "$bcrypt-sha256$v=2,t=2b,r=5$.US1fQ4TQS.ZTz/uJ5Kyn.$pzzgp40k8reM1CuQb03PvE0IDPQSdV6"],
  [abc72, "$bcrypt-sha256$v=2,t=2b,r=5$X1g1nh3g0v4h6970O68cxe$zu1cloESVFIOsUIo7fCEgkdHaI9SSue"],
  [abc72 + "xyz", "$bcrypt-sha256$v=2,t=2b,r=5$X1g1nh3g0v4h6970O68cxe$zC/1UDUG2ofEXB6Onr2vvyFzfhEOS3S"]
]

// passlib 1.7.4 passlib/tests/test_handlers_scrypt.py: _scrypt_test known_correct_hashes (the first two are the
// scrypt paper's vectors, an empty salt among them).
const scryptVectors: ReadonlyArray<readonly [string, string]> = [
  ["", "$scrypt$ln=4,r=1,p=1$$d9ZXYjhleyA7GcpCwYoEl/FrSETjB0ro39/6P+3iFEI"],
  ["password", "$scrypt$ln=10,r=8,p=16$TmFDbA$/bq+HJ00cgB4VucZDQHp/nxq18vII3gw53N2Y0s3MWI"],
  ["test", "$scrypt$ln=8,r=8,p=1$wlhLyXmP8b53bm1NKYVQqg$mTpvG8lzuuDk+DWz8HZIB6Vum6erDuUm0As5yU+VxWA"],
  [UPASS_TABLE, "$scrypt$ln=7,r=8,p=1$jjGmtDamdA4BQAjBeA9BSA$OiWRHhQtpDx7M/793x6UXK14AD512jg/qNm/hkWZG4M"],
  ["nacl", "$scrypt$ln=1,r=4,p=2$yhnD+J+Tci4lZCwFgHCuVQ$fAsEWmxSHuC0cHKMwKVFPzrQukgvK09Sj+NueTSxKds"]
]

const wrong = (password: string) => password === "" ? "x" : password.slice(0, -1) + "\u00e9"

describe("Password.verify of passlib's pbkdf2_sha1, pbkdf2_sha512, sha256_crypt, sha512_crypt, bcrypt_sha256", () => {
  for (
    const [scheme, vectors] of [
      ["pbkdf2_sha1 and pbkdf2_sha512", pbkdf2Vectors],
      ["sha256_crypt and sha512_crypt", shaCryptVectors],
      ["bcrypt_sha256 v1 and v2", bcryptSha256Vectors],
      ["scrypt (passlib's own $scrypt$ln=...)", scryptVectors]
    ] as const
  ) {
    it.effect(
      `passlib's ${scheme} vectors verify; another password fails; needsRehash says true`,
      () => expectVectors(vectors, wrong),
      120_000
    )
  }

  it.effect(
    "bcrypt_sha256 reads the whole password (no 72-byte cut), and v1 and v2 of one salt differ",
    () =>
      Effect.gen(function*() {
        const v2 = bcryptSha256Vectors.find(([password, stored]) => password === abc72 && stored.includes("v=2"))![1]
        expect(yield* outcome(abc72 + "xyz", v2)).toBe("ok:false")
        const v1 = "$bcrypt-sha256$2a,5$5Hg1DKFqPE8C2aflZ5vVoe$12BjNE0p7axMg55.Y/mHsYiVuFBDQyu"
        expect(yield* outcome("password", v1.replace("$2a,5$", "$v=2,t=2b,r=5$"))).toBe("ok:false")
      }),
    60_000
  )

  it.effect("sha-crypt and passlib's scrypt take the UTF-8 as given; a password holding a NUL never matches", () =>
    Effect.gen(function*() {
      const stored = "$5$rounds=1000$IbG0EuGQXw5EkMdP$LQ5AfPf13KufFsKtmazqnzSGZ4pxtUNw3woQ.ELRDF4"
      expect(yield* outcome("with unic\u00d6de".normalize("NFD"), stored)).toBe("ok:false")
      expect(yield* outcome("with unic\u00d6de\0", stored)).toBe("ok:false")
      // passlib's scrypt too, unlike the toolkit's own $scrypt$v=1 (NFC).
      expect(yield* outcome(UPASS_TABLE.normalize("NFD"), scryptVectors[3]![1])).toBe("ok:false")
    }))

  it.effect("sha-crypt: a password over passlib's 4096 bytes never matches and costs no rounds", () =>
    Effect.gen(function*() {
      const salt = "saltsaltsaltsalt"
      const made = (password: string) =>
        `$5$rounds=1000$${salt}$${ShaCrypt.shaCryptChecksum(crypto.createHash, password, salt, 1000, "sha256")}`
      const atLimit = "\u00e9".repeat(2048)
      expect(yield* outcome(atLimit, made(atLimit))).toBe("ok:true")
      // passlib refuses to hash such a password (PasswordSizeError): no stored hash can be of it.
      const over = atLimit + "a"
      expect(yield* outcome(over, made(over))).toBe("ok:false")
    }))

  const sha256 = "$5$rounds=11858$WH1ABM5sKhxbkgCK$aTQsjPkz0rBsH3lQlJxw9HDTDXPKBxC0LlVeV69P.t1"
  const sha512 =
    "$6$rounds=11021$KsvQipYPWpr93wWP$v7xjI4X6vyVptJjB1Y02vZC5SaSijBkGmq1uJhPr3cvqvvkd42Xvo48yLVPFt8dvhCsnlUgpX.//Cx" +
    "n91H4qy1"
  const sha1 = pbkdf2Vectors[0]![1]
  const pbkdf512 = pbkdf2Vectors[2]![1]
  const v1 = bcryptSha256Vectors[1]![1]
  const v2 = bcryptSha256Vectors[5]![1]
  // Each stored string and the reason its InvalidPasswordHash message names.
  const unusable: ReadonlyArray<readonly [string, string]> = [
    // Rounds past the bound would hold a worker for minutes (999,999,999 SHA-512 rounds).
    [sha512.replace("rounds=11021", "rounds=999999999"), "sha512-crypt rounds must be an integer in 1000..2000000"],
    [sha256.replace("rounds=11858", "rounds=2000001"), "sha256-crypt rounds must be an integer in 1000..2000000"],
    [sha256.replace("rounds=11858", "rounds=999"), "sha256-crypt rounds must be an integer in 1000..2000000"],
    [sha256.replace("rounds=11858", "rounds=99999999999"), "not a $5$[rounds=<rounds>$]<salt>$<43"],
    // passlib's known_malformed_hashes: a bad character, zero-padded rounds, an extra "$".
    [sha256.replace("WH1A", "WH1:A"), "not a $5$"],
    [sha256.replace("rounds=11858", "rounds=011858"), "not a $5$"],
    [sha256 + "$", "not a $5$"],
    [sha512.replace("Wpr93", "Wpr9:"), "not a $6$"],
    [sha512.replace("rounds=11021", "rounds=011021"), "not a $6$"],
    // A salt past 16 characters, a short checksum, no checksum (a configuration string), the other length.
    [sha256.replace("WH1ABM5sKhxbkgCK", "WH1ABM5sKhxbkgCKx"), "not a $5$"],
    [sha256.slice(0, -1), "not a $5$"],
    ["$5$rounds=5000$saltstring", "not a $5$"],
    [`$6$saltstring$${"a".repeat(43)}`, "not a $6$"],
    [sha1.replace("$1212$", "$2000001$"), "pbkdf2-sha1 rounds must be an integer in 1..2000000"],
    [sha1.replace("$1212$", "$01212$"), "not a $pbkdf2$<rounds>$<salt>$<27 hash characters> string"],
    [sha1.replace("$1212$", "$$"), "not a $pbkdf2$"],
    [sha1 + "$", "not a $pbkdf2$"],
    [sha1 + "A", "not a $pbkdf2$"],
    [pbkdf512.replace("$1212$", "$2000001$"), "pbkdf2-sha512 rounds must be an integer in 1..2000000"],
    [pbkdf512.slice(0, -1), "not a $pbkdf2-sha512$<rounds>$<salt>$<86 hash characters> string"],
    [pbkdf512.replace("$RHY0Fr3IDMSVO/RSZyb5ow$", `$${"A".repeat(1368)}$`), "salt must be 0..1024 bytes"],
    [v2.replace("r=5$", "r=16$"), "bcrypt cost must be an integer in 4..15"],
    [v1.replace("2a,5$", "2a,31$"), "bcrypt cost must be an integer in 4..15"],
    [v2.replace("r=5$", "r=05$"), "not a $bcrypt-sha256$"],
    [v2.replace("v=2", "v=1"), "not a $bcrypt-sha256$"],
    [v2.replace("v=2", "v=3"), "not a $bcrypt-sha256$"],
    [v2.replace("t=2b", "t=2a"), "not a $bcrypt-sha256$"],
    [v1.replace("2a,", "2y,"), "not a $bcrypt-sha256$"],
    [v2.slice(0, -1), "not a $bcrypt-sha256$"],
    [v2.replace("5Hg1DKFqPE8C2aflZ5vVoe", "5Hg1DKFqPE8C2aflZ5vVof"), "bcrypt-sha256 v2 salt"],
    // passlib's scrypt known_malformed_hashes (no p, ln=0, a letter for r, r * p too large), a short key, bounds.
    ["$scrypt$ln=10,r=1$wvif8/4fg1Cq9V7L2dv73w$bJcLia1lyfQ1X2x0xflehwVXPzWIUQWWdnlGwfVzBeQ", "not a $scrypt$v=1"],
    ["$scrypt$ln=0,r=1,p=1$wvif8/4fg1Cq9V7L2dv73w$bJcLia1lyfQ1X2x0xflehwVXPzWIUQWWdnlGwfVzBeQ", "ln must be"],
    ["$scrypt$ln=10,r=A,p=1$wvif8/4fg1Cq9V7L2dv73w$bJcLia1lyfQ1X2x0xflehwVXPzWIUQWWdnlGwfVzBeQ", "not a $scrypt$v=1"],
    ["$scrypt$ln=10,r=134217728,p=8$wvif8/4fg1Cq9V7L2dv73w$bJcLia1lyfQ1X2x0xflehwVXPzWIUQWWdnlGwfVzBeQ", "r must be"],
    ["$scrypt$ln=8,r=8,p=1$wlhLyXmP8b53bm1NKYVQqg$mTpvG8lzuuDk+DWz8HZIB6Vum6erDuUm0As5yU+VxW", "32-byte key"],
    ["$scrypt$ln=18,r=9,p=1$wlhLyXmP8b53bm1NKYVQqg$mTpvG8lzuuDk+DWz8HZIB6Vum6erDuUm0As5yU+VxWA", "exceeds 256 MiB"],
    [`$scrypt$ln=8,r=8,p=1$${"A".repeat(1368)}$mTpvG8lzuuDk+DWz8HZIB6Vum6erDuUm0As5yU+VxWA`, "salt length"]
  ]

  it.effect(
    "a malformed or too costly stored hash fails at once as InvalidPasswordHash, naming no secret",
    () => expectUnusable(unusable),
    60_000
  )

  it.effect("the bounds say sha-crypt rounds 1000..2,000,000 (passlib's defaults 535,000 and 656,000 inside)", () =>
    Effect.sync(() => {
      expect(Password.bounds.shaCryptRounds).toEqual({ min: 1000, max: 2_000_000 })
    }))

  it.effect(
    "sha512_crypt verifies off the event loop: the loop turns freely while 400,000 rounds are checked on a worker",
    () =>
      Effect.gen(function*() {
        const rounds = 400_000
        const checksum = ShaCrypt.shaCryptChecksum(crypto.createHash, "pw", "saltsaltsaltsalt", rounds, "sha512")
        const stored = `$6$rounds=${rounds}$saltsaltsaltsalt$${checksum}`
        const [verified, turns] = yield* loopTurnsDuring(Password.verify("pw", stored))
        expect(verified).toBe(true)
        // On the main thread the check is one synchronous run: the loop would not turn until it ends.
        expect(turns).toBeGreaterThan(100)
        expect(HashThreads.poolState()).toMatchObject({ unavailable: false })
      }),
    120_000
  )
})
