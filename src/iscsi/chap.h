// SPDX-License-Identifier: Apache-2.0
// CHAP for the iSCSI login (RFC 7143 12.1.3 over RFC 1994), one-way and mutual, as the
// Authenticator of the security stage (login.h).
//
// The exchange, target side:
//   I->T  CHAP_A=<A1,A2,...>          the algorithms the initiator offers, best first
//   T->I  CHAP_A=<A> CHAP_I=<I> CHAP_C=<C>
//   I->T  CHAP_N=<N> CHAP_R=<R> [CHAP_I=<I'> CHAP_C=<C'>]   (with I', C': mutual CHAP)
//   T->I  [CHAP_N=<N'> CHAP_R=<R'>]   (mutual CHAP: the target proves itself)
// R = H(I || secret || C) (RFC 1994 4.1) with H the algorithm A: 5 MD5, 6 SHA-1, 7 SHA-256,
// 8 SHA3-256 (IANA "PPP Authentication Algorithms"; RFC 7143 12.1.3 requires 5). The
// target picks the first offered algorithm it has, in the initiator's order. I and C come
// from a cryptographic random source (OpenSSL RAND_bytes); the hashes from OpenSSL's EVP.
//
// Who must authenticate is decided by the caller (the accounts bound to the target, or to
// discovery): a ChapAuthenticator is built with the users it accepts (incoming) and the
// account it answers with (outgoing, "" for none). Secrets are read from the
// AccountRegistry only while a response is computed or checked, and wiped after use; they
// and the responses never appear in a log line or in FailureReason().
//
// Every failure ends the login with Authentication Failure (0x0201): keys out of order or
// repeated, a malformed or over-long value, an unknown user, a wrong response or one of the
// wrong length, a reflected challenge (the initiator sends our own CHAP_C back), a
// challenge shorter than 16 bytes, mutual CHAP asked of a target with no outgoing account,
// and an outgoing secret equal to the initiator's (RFC 7143 12.1.3 forbids using one
// secret in both directions).
//
// Threading: a ChapAuthenticator belongs to one login (one connection, one loop). The
// free functions are thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "iscsi/login.h"

namespace modtgt::core {
class AccountRegistry;
}

namespace modtgt::iscsi {

enum class ChapAlgorithm : uint8_t {
  kMd5 = 5,
  kSha1 = 6,
  kSha256 = 7,
  kSha3_256 = 8,
};

// "MD5", "SHA-1", "SHA-256", "SHA3-256".
const char* ChapAlgorithmName(ChapAlgorithm alg);
// The digest (CHAP_R) length in bytes: 16, 20, 32, 32.
size_t ChapDigestLength(ChapAlgorithm alg);
// The algorithm with this CHAP_A number, if modtgt knows it. False otherwise.
bool ChapAlgorithmFromNumber(uint64_t n, ChapAlgorithm* alg);
// True if this OpenSSL can compute it (MD5 is missing from a FIPS-only provider).
bool ChapAlgorithmAvailable(ChapAlgorithm alg);

// RFC 1994 4.1: *out = H(id || secret || challenge). False if OpenSSL cannot compute H.
bool ChapResponse(ChapAlgorithm alg, uint8_t id, std::string_view secret,
                  const std::vector<uint8_t>& challenge, std::vector<uint8_t>* out);

// Limits (RFC 7143 12.1.3: binary values of at most 1024 bytes; names as iSCSI names).
inline constexpr size_t kChapChallengeLength = 32;  // the challenge we send
inline constexpr size_t kMinChapChallenge = 16;     // the shortest we accept (mutual CHAP)
inline constexpr size_t kMaxChapBinary = 1024;      // CHAP_C, CHAP_R
inline constexpr size_t kMaxChapName = 255;         // CHAP_N

// Fills buf with n unpredictable bytes; false on failure (the login then fails).
using RandomSource = std::function<bool(uint8_t* buf, size_t n)>;
// OpenSSL's RAND_bytes.
RandomSource SystemRandom();

class ChapAuthenticator : public Authenticator {
 public:
  // incoming: the users an initiator may authenticate as (at least one); outgoing: the
  // account the target answers mutual CHAP with ("" = none, mutual CHAP fails). accounts
  // outlives this object.
  ChapAuthenticator(const core::AccountRegistry* accounts, std::vector<std::string> incoming,
                    std::string outgoing, RandomSource random = SystemRandom());
  ~ChapAuthenticator() override;

  LoginStatus Step(const KeyValues& keys, KeyValues* out) override;
  bool done() const override { return state_ == State::kDone; }
  std::string FailureReason() const override { return failure_; }
  // "CHAP user 'u' (SHA-256, mutual)".
  std::string Summary() const override;
  // After done(): the user the initiator authenticated as, and whether the target
  // authenticated itself too.
  const std::string& user() const { return user_; }
  bool mutual() const { return mutual_; }
  ChapAlgorithm algorithm() const { return alg_; }

 private:
  enum class State : uint8_t { kAlgorithm, kResponse, kDone, kFailed };

  LoginStatus Fail(std::string why);
  LoginStatus ChooseAlgorithm(const KeyValues& keys, KeyValues* out);
  LoginStatus CheckResponse(const KeyValues& keys, KeyValues* out);
  LoginStatus AnswerMutual(const std::string* id_text, const std::string* challenge_text,
                           const std::string& initiator_secret, KeyValues* out);

  const core::AccountRegistry* const accounts_;
  const std::vector<std::string> incoming_;
  const std::string outgoing_;
  RandomSource random_;

  State state_ = State::kAlgorithm;
  ChapAlgorithm alg_ = ChapAlgorithm::kMd5;
  uint8_t id_ = 0;
  std::vector<uint8_t> challenge_;
  std::string user_;
  bool mutual_ = false;
  std::string failure_;
};

}  // namespace modtgt::iscsi
