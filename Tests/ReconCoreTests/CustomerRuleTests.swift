@testable import ReconCore
import Testing

/// The customer rules of `Sources/ReconCore/Rules` on their own: what a shared key does, and what
/// an identity reports.
struct CustomerRuleTests {
    @Test(arguments: [
        // identity P, identity Q, records of P, records of Q → verdict
        (SystemSet.both, SystemSet.both, SystemSet.crm, SystemSet.erp, SharedKey.Verdict.keepApart),   // each linked to its own
        (.crm, .crm, .crm, .crm, .join),              // one customer twice in the CRM
        (.crm, .erp, .crm, .erp, .join),              // a counterpart found
        (.both, .erp, .crm, .erp, .conflict),         // P's link names another ERP record than the key does
        (.crm, .both, .crm, .erp, .conflict),
        (.both, .crm, .crm, .crm, .join),             // a CRM duplicate of a linked customer
    ] as [(SystemSet, SystemSet, SystemSet, SystemSet, SharedKey.Verdict)])
    func sharedKey(p: SystemSet, q: SystemSet, rp: SystemSet, rq: SystemSet, verdict: SharedKey.Verdict) {
        #expect(SharedKey.verdict(identityP: p, identityQ: q, recordsP: rp, recordsQ: rq) == verdict)
    }

    @Test func whatAnIdentityReports() {
        #expect(CustomerFindings.duplicate(.crm, count: 1) == nil)
        #expect(CustomerFindings.duplicate(.erp, count: 3) == "3 ERP records for one customer")
        #expect(CustomerFindings.verdict(crm: 2, erp: 0, keys: "email", linked: false, dangling: false) == .orphan(.crm, detail: "no ERP counterpart"))
        #expect(CustomerFindings.verdict(crm: 0, erp: 1, keys: "", linked: false, dangling: true)
                == .orphan(.erp, detail: "no CRM counterpart; external_id points to a CRM record that does not exist"))
        #expect(CustomerFindings.verdict(crm: 1, erp: 1, keys: "phone+name", linked: false, dangling: false)
                == .unlinked(detail: "matched by phone+name but no external-id link in either system"))
        #expect(CustomerFindings.verdict(crm: 1, erp: 2, keys: "external_id+email", linked: true, dangling: false) == .none)
    }
}
