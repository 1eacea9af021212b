// SPDX-License-Identifier: Apache-2.0
// CHAP (RFC 7143 12.1.3, RFC 1994) with OpenSSL's EVP digests and RAND_bytes.
#include "iscsi/chap.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <utility>

#include "core/accounts.h"
#include "iscsi/describe.h"
#include "iscsi/params.h"

namespace modtgt::iscsi {
namespace {

const EVP_MD* Md(ChapAlgorithm alg) {
  switch (alg) {
    case ChapAlgorithm::kMd5:
      return EVP_md5();
    case ChapAlgorithm::kSha1:
      return EVP_sha1();
    case ChapAlgorithm::kSha256:
      return EVP_sha256();
    case ChapAlgorithm::kSha3_256:
      return EVP_sha3_256();
  }
  return nullptr;
}

// A std::string whose bytes are wiped when it goes (secrets read from the registry).
class SecretString {
 public:
  SecretString() = default;
  ~SecretString() { Clear(); }
  SecretString(const SecretString&) = delete;
  SecretString& operator=(const SecretString&) = delete;
  void Clear() {
    if (!s_.empty()) OPENSSL_cleanse(s_.data(), s_.size());
    s_.clear();
  }
  std::string* get() { return &s_; }
  const std::string& str() const { return s_; }

 private:
  std::string s_;
};

bool ReadSecret(const core::AccountRegistry* accounts, const std::string& user, SecretString* out) {
  if (accounts == nullptr) return false;
  Result<std::string> s = accounts->Secret(user);
  if (!s.ok()) return false;
  *out->get() = std::move(*s);
  // The Result's moved-from string is empty; nothing else holds a copy.
  return true;
}

}  // namespace

const char* ChapAlgorithmName(ChapAlgorithm alg) {
  switch (alg) {
    case ChapAlgorithm::kMd5:
      return "MD5";
    case ChapAlgorithm::kSha1:
      return "SHA-1";
    case ChapAlgorithm::kSha256:
      return "SHA-256";
    case ChapAlgorithm::kSha3_256:
      return "SHA3-256";
  }
  return "?";
}

size_t ChapDigestLength(ChapAlgorithm alg) {
  switch (alg) {
    case ChapAlgorithm::kMd5:
      return 16;
    case ChapAlgorithm::kSha1:
      return 20;
    case ChapAlgorithm::kSha256:
    case ChapAlgorithm::kSha3_256:
      return 32;
  }
  return 0;
}

bool ChapAlgorithmFromNumber(uint64_t n, ChapAlgorithm* alg) {
  if (n < 5 || n > 8) return false;
  *alg = static_cast<ChapAlgorithm>(n);
  return true;
}

bool ChapAlgorithmAvailable(ChapAlgorithm alg) {
  std::vector<uint8_t> out;
  return ChapResponse(alg, 0, "", {}, &out);
}

bool ChapResponse(ChapAlgorithm alg, uint8_t id, std::string_view secret,
                  const std::vector<uint8_t>& challenge, std::vector<uint8_t>* out) {
  const EVP_MD* md = Md(alg);
  if (md == nullptr) return false;
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  if (ctx == nullptr) return false;
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  bool ok = EVP_DigestInit_ex(ctx, md, nullptr) == 1 && EVP_DigestUpdate(ctx, &id, 1) == 1 &&
            EVP_DigestUpdate(ctx, secret.data(), secret.size()) == 1 &&
            EVP_DigestUpdate(ctx, challenge.data(), challenge.size()) == 1 &&
            EVP_DigestFinal_ex(ctx, digest, &len) == 1 && len == ChapDigestLength(alg);
  EVP_MD_CTX_free(ctx);
  if (ok) out->assign(digest, digest + len);
  OPENSSL_cleanse(digest, sizeof(digest));
  return ok;
}

RandomSource SystemRandom() {
  return [](uint8_t* buf, size_t n) {
    return n <= INT32_MAX && RAND_bytes(buf, static_cast<int>(n)) == 1;
  };
}

ChapAuthenticator::ChapAuthenticator(const core::AccountRegistry* accounts,
                                     std::vector<std::string> incoming, std::string outgoing,
                                     RandomSource random)
    : accounts_(accounts),
      incoming_(std::move(incoming)),
      outgoing_(std::move(outgoing)),
      random_(std::move(random)) {}

ChapAuthenticator::~ChapAuthenticator() {
  if (!challenge_.empty()) OPENSSL_cleanse(challenge_.data(), challenge_.size());
}

std::string ChapAuthenticator::Summary() const {
  if (state_ != State::kDone) return "CHAP (not done)";
  return "CHAP user " + LogQuote(user_) + " (" + ChapAlgorithmName(alg_) +
         (mutual_ ? ", mutual)" : ")");
}

LoginStatus ChapAuthenticator::Fail(std::string why) {
  state_ = State::kFailed;
  failure_ = "CHAP: " + why;
  return LoginStatus::kAuthenticationFailure;
}

LoginStatus ChapAuthenticator::Step(const KeyValues& keys, KeyValues* out) {
  switch (state_) {
    case State::kAlgorithm:
      return ChooseAlgorithm(keys, out);
    case State::kResponse:
      return CheckResponse(keys, out);
    case State::kDone:
      return Fail((keys.empty() ? std::string("a key") : LogQuote(keys.front().first)) +
                  " after the exchange ended");
    case State::kFailed:
      return LoginStatus::kAuthenticationFailure;
  }
  return LoginStatus::kAuthenticationFailure;
}

// Round 1: CHAP_A alone. Answer the algorithm, an identifier and a challenge.
LoginStatus ChapAuthenticator::ChooseAlgorithm(const KeyValues& keys, KeyValues* out) {
  const std::string* offer = nullptr;
  for (const auto& [k, v] : keys) {
    if (k != "CHAP_A") return Fail(LogQuote(k) + " before CHAP_A (keys out of order)");
    offer = &v;
  }
  if (offer == nullptr) return Fail("no CHAP_A");
  bool chosen = false;
  std::string_view rest = *offer;
  while (!chosen) {
    size_t comma = rest.find(',');
    std::string_view item = rest.substr(0, comma);
    uint64_t n = 0;
    ChapAlgorithm alg;
    if (ParseNumber(item, &n) && ChapAlgorithmFromNumber(n, &alg) && ChapAlgorithmAvailable(alg)) {
      alg_ = alg;
      chosen = true;
    }
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
  if (!chosen) {
    return Fail("no algorithm in common: the initiator offered CHAP_A=" + LogQuote(*offer, 64) +
                ", modtgt has 5 (MD5), 6 (SHA-1), 7 (SHA-256), 8 (SHA3-256)");
  }
  challenge_.assign(kChapChallengeLength, 0);
  if (!random_ || !random_(&id_, 1) || !random_(challenge_.data(), challenge_.size())) {
    return Fail("no random bytes for the challenge");
  }
  out->emplace_back("CHAP_A", std::to_string(static_cast<int>(alg_)));
  out->emplace_back("CHAP_I", std::to_string(id_));
  out->emplace_back("CHAP_C", EncodeHex(challenge_.data(), challenge_.size()));
  state_ = State::kResponse;
  return LoginStatus::kSuccess;
}

// Round 2: CHAP_N and CHAP_R, with CHAP_I and CHAP_C when the initiator wants the target
// to authenticate too.
LoginStatus ChapAuthenticator::CheckResponse(const KeyValues& keys, KeyValues* out) {
  const std::string* name = nullptr;
  const std::string* response = nullptr;
  const std::string* id = nullptr;
  const std::string* challenge = nullptr;
  for (const auto& [k, v] : keys) {
    if (k == "CHAP_N") {
      name = &v;
    } else if (k == "CHAP_R") {
      response = &v;
    } else if (k == "CHAP_I") {
      id = &v;
    } else if (k == "CHAP_C") {
      challenge = &v;
    } else {
      return Fail(LogQuote(k) + " where CHAP_N and CHAP_R were expected (keys out of order)");
    }
  }
  if (name == nullptr || response == nullptr) {
    return Fail(std::string(name == nullptr ? "no CHAP_N" : "no CHAP_R") + " in the response step");
  }
  if ((id == nullptr) != (challenge == nullptr)) {
    return Fail(id == nullptr ? "CHAP_C without CHAP_I" : "CHAP_I without CHAP_C");
  }
  if (name->empty() || name->size() > kMaxChapName) {
    return Fail("CHAP_N of " + std::to_string(name->size()) + " bytes (1 to 255 allowed)");
  }
  const std::string quoted_user = LogQuote(*name);
  std::vector<uint8_t> got;
  if (!DecodeBinaryValue(*response, kMaxChapBinary, &got)) {
    return Fail("user " + quoted_user + ": CHAP_R is not a hex (0x) or base64 (0b) value");
  }
  const size_t want = ChapDigestLength(alg_);
  if (got.size() != want) {
    return Fail("user " + quoted_user + ": CHAP_R of " + std::to_string(got.size()) + " bytes, " +
                ChapAlgorithmName(alg_) + " gives " + std::to_string(want));
  }
  if (std::find(incoming_.begin(), incoming_.end(), *name) == incoming_.end()) {
    return Fail("user " + quoted_user + " is not bound to this target");
  }
  SecretString secret;
  if (!ReadSecret(accounts_, *name, &secret)) {
    return Fail("user " + quoted_user + " has no account any more");
  }
  std::vector<uint8_t> expected;
  if (!ChapResponse(alg_, id_, secret.str(), challenge_, &expected)) {
    return Fail(std::string("cannot compute ") + ChapAlgorithmName(alg_));
  }
  const bool match = CRYPTO_memcmp(expected.data(), got.data(), want) == 0;
  OPENSSL_cleanse(expected.data(), expected.size());
  if (!match) return Fail("user " + quoted_user + ": wrong response");
  user_ = *name;
  if (id != nullptr) {
    LoginStatus st = AnswerMutual(id, challenge, secret.str(), out);
    if (st != LoginStatus::kSuccess) return st;
  }
  state_ = State::kDone;
  return LoginStatus::kSuccess;
}

LoginStatus ChapAuthenticator::AnswerMutual(const std::string* id_text,
                                            const std::string* challenge_text,
                                            const std::string& initiator_secret, KeyValues* out) {
  const std::string who = "user " + LogQuote(user_) + ", mutual CHAP: ";
  if (outgoing_.empty()) {
    return Fail(who +
                "the initiator asks the target to authenticate, but no outgoing "
                "account is bound");
  }
  uint64_t id = 0;
  if (!ParseNumber(*id_text, &id) || id > 255) {
    return Fail(who + "CHAP_I is not a number from 0 to 255");
  }
  std::vector<uint8_t> challenge;
  if (!DecodeBinaryValue(*challenge_text, kMaxChapBinary, &challenge)) {
    return Fail(who + "CHAP_C is not a hex (0x) or base64 (0b) value of at most 1024 bytes");
  }
  if (challenge.size() < kMinChapChallenge) {
    return Fail(who + "CHAP_C of " + std::to_string(challenge.size()) + " bytes (at least " +
                std::to_string(kMinChapChallenge) + ")");
  }
  // RFC 7143 12.1.3: an originator must not reuse the challenge it got from the responder;
  // the responder checks.
  if (challenge == challenge_) return Fail(who + "the initiator sent our own challenge back");
  SecretString secret;
  if (!ReadSecret(accounts_, outgoing_, &secret)) {
    return Fail(who + "the outgoing account " + LogQuote(outgoing_) + " is gone");
  }
  // RFC 7143 12.1.3: a secret must not serve both directions.
  if (secret.str() == initiator_secret) {
    return Fail(who + "the outgoing account " + LogQuote(outgoing_) +
                " has the same secret as the user; refusing to answer with it");
  }
  std::vector<uint8_t> r;
  if (!ChapResponse(alg_, static_cast<uint8_t>(id), secret.str(), challenge, &r)) {
    return Fail(std::string("cannot compute ") + ChapAlgorithmName(alg_));
  }
  out->emplace_back("CHAP_N", outgoing_);
  out->emplace_back("CHAP_R", EncodeHex(r.data(), r.size()));
  OPENSSL_cleanse(r.data(), r.size());
  mutual_ = true;
  return LoginStatus::kSuccess;
}

}  // namespace modtgt::iscsi
