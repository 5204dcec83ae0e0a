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
        #expect(CustomerDuplicates.detail(.crm, count: 1) == nil)
        #expect(CustomerDuplicates.detail(.erp, count: 3) == "3 ERP records for one customer")
        #expect(CustomerOrphans.orphan(crm: 2, erp: 0, dangling: false).map { "\($0.system) \($0.detail)" } == "crm no ERP counterpart")
        #expect(CustomerOrphans.orphan(crm: 0, erp: 1, dangling: true)?.detail
                == "no CRM counterpart; external_id points to a CRM record that does not exist")
        #expect(CustomerOrphans.orphan(crm: 1, erp: 1, dangling: false) == nil)
        #expect(CustomerUnlinked.detail(keys: "phone+name", linked: false) == "matched by phone+name but no external-id link in either system")
        #expect(CustomerUnlinked.detail(keys: "external_id+email", linked: true) == nil)
    }
}
