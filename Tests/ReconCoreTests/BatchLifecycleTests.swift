import ReconCore
import Testing

/// The batch state machine, without a database: every request from every status.
struct BatchLifecycleTests {
    static let sha = "aaa"

    func facts(_ status: BatchStatus, createdBy: String = "recon_state", approvedSHA: String? = nil, self allow: Bool = false,
               expired: Bool = false) -> BatchFacts {
        BatchFacts(status: status, createdBy: createdBy, planSHA256: Self.sha, approvedSHA256: approvedSHA, approvedBy: approvedSHA == nil ? nil : "alice",
                   allowSelfApproval: allow, expired: expired)
    }

    @Test(arguments: BatchStatus.allCases)
    func onlyAPendingBatchIsApproved(status: BatchStatus) {
        let result = BatchLifecycle.transition(facts(status), .approve(by: "alice", sha256: Self.sha))
        if status == .pending { #expect(result == .success(.approved)) } else { #expect(result == .failure(.notPending(status))) }
    }

    @Test func approvalNeedsFourEyesTheRecordedHashAndTime() {
        #expect(BatchLifecycle.transition(facts(.pending), .approve(by: "recon_state", sha256: Self.sha)) == .failure(.selfApproval(role: "recon_state")))
        #expect(BatchLifecycle.transition(facts(.pending, self: true), .approve(by: "recon_state", sha256: Self.sha)) == .success(.approved))
        #expect(BatchLifecycle.transition(facts(.pending), .approve(by: "alice", sha256: "bbb")) == .failure(.planChanged(found: "bbb", recorded: Self.sha)))
        #expect(BatchLifecycle.transition(facts(.pending, expired: true), .approve(by: "alice", sha256: Self.sha)) == .failure(.expired))
    }

    @Test func applyNeedsAnApprovalOfThisPlanBeforeItExpires() {
        #expect(BatchLifecycle.transition(facts(.approved, approvedSHA: Self.sha), .apply(by: "bob", sha256: Self.sha)) == .success(.applied))
        #expect(BatchLifecycle.transition(facts(.approved, approvedSHA: Self.sha), .apply(by: "bob", sha256: "bbb"))
                == .failure(.notWhatWasApproved(found: "bbb", approved: Self.sha)))
        #expect(BatchLifecycle.transition(facts(.approved, approvedSHA: Self.sha, expired: true), .apply(by: "bob", sha256: Self.sha)) == .failure(.expired))
        #expect(BatchLifecycle.transition(facts(.pending), .apply(by: "bob", sha256: Self.sha)) == .failure(.notApproved(.pending)))
        #expect(BatchLifecycle.transition(facts(.applied, approvedSHA: Self.sha), .apply(by: "bob", sha256: Self.sha)) == .failure(.alreadyApplied))
        for final in [BatchStatus.rejected, .expired, .superseded] {
            #expect(BatchLifecycle.transition(facts(final, approvedSHA: Self.sha), .apply(by: "bob", sha256: Self.sha)) == .failure(.final(final)))
        }
    }

    @Test(arguments: BatchStatus.allCases)
    func finalStatesStayFinal(status: BatchStatus) {
        let result = BatchLifecycle.transition(facts(status), .reject(by: "alice"))
        #expect(result == (status.isFinal ? .failure(.final(status)) : .success(.rejected)))
    }
}
